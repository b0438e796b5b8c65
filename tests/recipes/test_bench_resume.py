"""A bench stopped mid-arm (pre-emption, time limit) exits 75 with the arm recorded as stopped, and the
same bench continued by its output.name keeps the finished arms, resumes the stopped arm from its
checkpoint and ends with the numbers of a bench that was never stopped."""
import json
from pathlib import Path

import pytest

from recipes.cli import main

pytestmark = pytest.mark.slow

BENCH = """recipe: bench
train_config: bench/tiny_synth_train.yaml
train_data: {{dataset: "synth:finance", n: 32}}
eval: {{dataset: "synth-mcqa:finance", n: 20, target: text, length_norm: true, batch_size: 16}}
arms:
  - name: base
    base_only: true
  - name: lora-r8
    overrides: {{lora.enabled: true, lora.r: 8, lora.alpha: 16, lora.dropout: 0.0, train.max_steps: 6,
                train.save_every: 2, data.max_seq_len: 128{limit}}}
  - name: full
    overrides: {{lora.enabled: false, train.lr: 1.0e-3, train.max_steps: 3, data.max_seq_len: 128}}
compute: {{gpu: cpu}}
"""


def write(tmp_path: Path, name: str, limit: str = "") -> str:
    path = tmp_path / name
    path.write_text(BENCH.format(limit=limit), encoding="utf-8")
    return str(path)


def arm_result(bench: Path, arm: str) -> tuple:
    ev = json.loads((bench / arm / "eval.json").read_text())
    losses = [json.loads(l)["loss"] for l in (bench / arm / "metrics.jsonl").read_text().splitlines()
              if "loss" in json.loads(l)] if (bench / arm / "metrics.jsonl").exists() else None
    return ev["overall"]["accuracy"], losses


def test_a_stopped_bench_continues_to_the_uninterrupted_numbers(tmp_path, capsys):
    # the time limit counts from the start of this process, long past when the arm trains: the arm
    # makes its first step(s), checkpoints and stops
    stopping = write(tmp_path, "stopping.yaml", ", train.time_limit: 0.01")
    plain = write(tmp_path, "plain.yaml")
    assert main(["run", "bench", "--config", stopping, f"output.dir={tmp_path}", "output.name=b"]) == 75
    err = capsys.readouterr().err
    bench = tmp_path / "b"
    record = json.loads((bench / "bench.json").read_text())
    assert [(a["name"], a["status"]) for a in record["arms"]] == [("base", "ok"), ("lora-r8", "stopped")]
    assert "kdtune: continue with: kdtune run bench" in err and "output.name=b" in err
    assert "train.resume" not in err.split("continue with:")[1].splitlines()[0]
    base_eval = (bench / "base" / "eval.json").stat().st_mtime_ns

    assert main(["run", "bench", "--config", plain, f"output.dir={tmp_path}", "output.name=b"]) in (0, None)
    record = json.loads((bench / "bench.json").read_text())
    assert [(a["name"], a["status"]) for a in record["arms"]] == [("base", "ok"), ("lora-r8", "ok"), ("full", "ok")]
    assert (bench / "base" / "eval.json").stat().st_mtime_ns == base_eval          # kept, not re-run
    history = [json.loads(l)["event"] for l in (bench / "lora-r8" / "history.jsonl").read_text().splitlines()]
    assert history[:3] == ["start", "stopped", "resume"]
    assert len(json.loads((bench / "report.json").read_text())["ranking"]) == 3

    assert main(["run", "bench", "--config", plain, f"output.dir={tmp_path}", "output.name=never"]) in (0, None)
    for arm in ("base", "lora-r8", "full"):
        assert arm_result(bench, arm) == arm_result(tmp_path / "never", arm), arm

    # continuing a finished bench, or one with other arms, is refused with the reason
    assert main(["run", "bench", "--config", plain, f"output.dir={tmp_path}", "output.name=b"]) == 2
    assert "holds a finished bench" in capsys.readouterr().err


def test_a_bench_directory_that_cannot_be_continued_is_refused_and_left_alone(tmp_path, capsys):
    plain = write(tmp_path, "plain.yaml")
    for name, text, says in (("other", '{"arms": [{"name": "zzz", "status": "ok"}]}', "holds a bench with arms zzz"),
                             ("broken", "{broken", "cannot be read as a bench record")):
        (tmp_path / name).mkdir()
        (tmp_path / name / "bench.json").write_text(text)
        assert main(["run", "bench", "--config", plain, f"output.dir={tmp_path}", f"output.name={name}"]) == 2
        assert says in capsys.readouterr().err
        assert (tmp_path / name / "bench.json").read_text() == text
        assert not (tmp_path / name / "config.yaml").exists()
