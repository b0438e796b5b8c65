"""Cheap things first and filesystem errors as one paragraph: every case exits 2 with one
`kdtune: error:` line and no traceback, and no run directory is left behind."""
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from recipes.cli import main
from trainers.errors import UserError

RUN = ["run", "sft", "--config", "smoke/tiny_lora.yaml", "train.max_steps=1"]


def one_paragraph(err: str) -> str:
    """The single error line (libraries may log unrelated notes to stderr during imports)."""
    assert "Traceback" not in err, err
    lines = [line for line in err.splitlines() if line.startswith("kdtune: error:")]
    assert len(lines) == 1, err
    return lines[0]


def test_output_dir_that_is_a_file(tmp_path, capsys):
    (tmp_path / "file").write_text("x")
    assert main(RUN + [f"output.dir={tmp_path / 'file' / 'runs'}"]) == 2
    line = one_paragraph(capsys.readouterr().err)
    assert "cannot create run directory" in line and "Not a directory" in line and str(tmp_path / "file") in line


@pytest.mark.skipif(not Path("/sys/kernel").is_dir(), reason="needs Linux /sys (not writable, even by root)")
def test_output_dir_where_nothing_may_be_created(tmp_path, capsys):
    assert main(RUN + ["output.dir=/sys/kdtune-runs"]) == 2
    line = one_paragraph(capsys.readouterr().err)
    assert "/sys/kdtune-runs" in line and "Operation not permitted" in line


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores directory permissions")
def test_output_dir_without_write_permission(tmp_path, capsys):
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o555)
    assert main(RUN + [f"output.dir={locked}"]) == 2
    assert "Permission denied" in one_paragraph(capsys.readouterr().err)


def test_cp_into_a_missing_directory(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["cp", "smoke/tiny_lora.yaml", "newdir/sub/my.yaml"]) == 2
    assert "newdir/sub does not exist" in one_paragraph(capsys.readouterr().err)
    assert not (tmp_path / "newdir").exists()


@pytest.mark.skipif(not Path("/sys/kernel").is_dir(), reason="needs Linux /sys (not writable, even by root)")
def test_cp_into_a_directory_that_refuses_writes(capsys):
    assert main(["cp", "smoke/tiny_lora.yaml", "/sys/"]) == 2
    line = one_paragraph(capsys.readouterr().err)
    assert "cannot write /sys/tiny_lora.yaml" in line


def test_ls_into_a_pipe_closed_by_its_reader(tmp_path):
    # `kdtune ls | head -0`: the reader is gone before the first write, so every write fails (EPIPE)
    r, w = os.pipe()
    os.close(r)
    proc = subprocess.run([sys.executable, "-m", "recipes.cli", "ls"], stdout=w, stderr=subprocess.PIPE,
                          text=True, cwd=tmp_path, timeout=120)
    os.close(w)
    assert proc.returncode == 2
    assert "broken pipe" in one_paragraph(proc.stderr)
    assert "Exception ignored" not in proc.stderr


def test_wrong_data_path_is_reported_before_the_model_is_looked_at(tmp_path, capsys):
    # both are wrong; data is checked first, and no run directory is made
    code = main(RUN + ["data.path=missing.jsonl", "model.path=nobody/no-such-model", f"output.dir={tmp_path / 'r'}"])
    assert code == 2
    line = one_paragraph(capsys.readouterr().err)
    assert "missing.jsonl" in line and "nobody" not in line
    assert not (tmp_path / "r").exists()


@pytest.fixture
def unreachable_hub(monkeypatch, tmp_path):
    """Online mode, an empty hub cache, and an endpoint nothing listens on (port 9, discard)."""
    from huggingface_hub import constants
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    for proxy in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(proxy, raising=False)
    monkeypatch.setattr(constants, "ENDPOINT", "http://127.0.0.1:9")
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))


def test_model_not_cached_with_the_hub_unreachable_fails_at_once(unreachable_hub):
    from trainers.models.model_loading import resolve_model_source
    t0 = time.monotonic()
    with pytest.raises(UserError) as err:
        resolve_model_source("nobody/no-such-model")
    assert time.monotonic() - t0 < 5      # huggingface_hub's own retries take ~30 s here
    assert "127.0.0.1:9 unreachable" in str(err.value) and "hf download nobody/no-such-model" in str(err.value)


def test_cli_with_an_unreachable_hub_exits_2_before_making_a_run(unreachable_hub, tmp_path, capsys):
    code = main(RUN + ["model.path=nobody/no-such-model", f"output.dir={tmp_path / 'r'}"])
    assert code == 2
    assert "hf download nobody/no-such-model" in one_paragraph(capsys.readouterr().err)
    assert not (tmp_path / "r").exists()
