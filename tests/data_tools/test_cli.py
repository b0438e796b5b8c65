"""`kdtune data` commands: help, exit codes, pii counts, synth, and no torch import."""

import argparse
import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest

from data_tools.cli import main, register

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("argv", [["data"], ["data", "prepare"], ["data", "pii"], ["data", "synth"]])
def test_help_for_every_command(argv, capsys):
    with pytest.raises(SystemExit) as exit_:
        main([*argv, "--help"])
    assert exit_.value.code == 0
    assert "usage: kdtune " + " ".join(argv) in capsys.readouterr().out


def test_register_sets_a_handler_on_a_foreign_parser():
    parser = argparse.ArgumentParser(prog="kdtune")
    register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["data", "pii", "f.txt", "--mode", "drop"])
    assert callable(args.func) and args.mode == "drop"


def test_data_error_exits_2_with_one_line_and_no_traceback(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("inputs: [{path: a.jsonl}]\ndedupe: {}\n", encoding="utf-8")
    proc = subprocess.run([sys.executable, "-m", "data_tools.cli", "data", "prepare", "--config", str(bad)],
                          cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stderr == f"error: {bad}: dedupe: unknown key (did you mean 'dedup'?)\n"


def test_input_without_out_is_a_usage_error(capsys):
    assert main(["data", "prepare", "--input", "x.jsonl"]) == 2
    assert "--input needs --out" in capsys.readouterr().err


def test_pii_counts_and_redacted_copies(tmp_path, capsys):
    jsonl = tmp_path / "a.jsonl"
    jsonl.write_text(json.dumps({"고객": {"전화": "010-2345-6789", "메일": "kim@example.co.kr"}}, ensure_ascii=False)
                     + "\n연락처 02-123-4567 (JSON 아님)\n", encoding="utf-8")
    assert main(["data", "pii", str(jsonl), "--out", str(tmp_path / "r.jsonl")]) == 0
    out = capsys.readouterr().out
    assert "2 lines, 2 with personal data, 3 found" in out
    assert [line.split() for line in out.splitlines() if line.strip().startswith(("phone", "email"))] == \
        [["phone", "2"], ["email", "1"]]
    redacted = (tmp_path / "r.jsonl").read_text(encoding="utf-8").splitlines()
    assert json.loads(redacted[0]) == {"고객": {"전화": "[전화번호]", "메일": "[이메일]"}}
    assert redacted[1] == "연락처 [전화번호] (JSON 아님)"

    table = tmp_path / "b.csv"
    with open(table, "w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows([["이름", "연락처"], ["김", "010-2345-6789"], ["이", "없음"]])
    assert main(["data", "pii", str(table), "--out", str(tmp_path / "r.csv"), "--mode", "drop", "--check"]) == 1
    assert "2 lines, 1 with personal data, 1 found" in capsys.readouterr().out
    assert list(csv.reader(open(tmp_path / "r.csv", encoding="utf-8"))) == [["이름", "연락처"], ["이", "없음"]]


def test_pii_missing_file_exits_2(tmp_path, capsys):
    assert main(["data", "pii", str(tmp_path / "none.txt")]) == 2
    assert "file not found" in capsys.readouterr().err


def test_synth_writes_a_dataset_and_rejects_unknown_domains(tmp_path, capsys):
    assert main(["data", "synth", "--domain", "finance", "--n", "10", "--out", str(tmp_path)]) == 0
    assert (tmp_path / "train.jsonl").exists() and (tmp_path / "datacard.json").exists()
    assert main(["data", "synth", "--domain", "retail", "--n", "10", "--out", str(tmp_path)]) == 2
    assert "choose one of" in capsys.readouterr().err


def test_data_tools_never_imports_torch():
    code = ("import sys, data_tools.cli, data_tools.prepare, data_tools.pii_scan, data_tools.row_stage;"
            "print('torch' in sys.modules)")
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert proc.stdout.strip() == "False"
