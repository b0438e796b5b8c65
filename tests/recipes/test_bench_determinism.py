"""The same bench twice gives the same numbers: every arm's accuracy, every evaluated item's
outcome and every logged training loss are identical (seeded per arm, deterministic on CPU), so a
difference between two reports is a difference in what was run, never noise of the run itself."""
import json
from pathlib import Path

from recipes.cli import main

TIMING = {"tokens_per_s", "elapsed_s", "memory_gib", "mfu", "wall_seconds", "seconds"}


def outcome(bench: Path) -> dict:
    report = json.loads((bench / "report.json").read_text())
    arms = {}
    for a in report["arms"]:
        assert a["status"] == "ok", (a["name"], a.get("error"))
        run = Path(a["run_dir"])
        ev = json.loads((run / "eval.json").read_text())
        metrics = run / "metrics.jsonl"
        losses = [{k: v for k, v in json.loads(line).items() if k not in TIMING}
                  for line in metrics.read_text().splitlines()] if metrics.exists() else None
        arms[a["name"]] = {"accuracy": a["accuracy"], "ci95": a["ci95"], "overall": ev["overall"],
                           "per_category": ev.get("per_category"), "examples": ev.get("examples"),
                           "losses": losses}
    return {"ranking": report["ranking"], "pareto_pflops": report["pareto_pflops"], "arms": arms}


def test_tiny_bench_twice_gives_identical_accuracies(tmp_path):
    for name in ("first", "second"):
        assert main(["run", "bench", "--config", "bench/tiny.yaml", f"output.dir={tmp_path}",
                     f"output.name={name}"]) in (0, None)
    first, second = outcome(tmp_path / "first"), outcome(tmp_path / "second")
    assert sorted(first["arms"]) == ["base", "full", "kd-logit-r8", "lora-r8", "qlora-r8"]
    assert all(first["arms"][a]["losses"] for a in first["arms"] if a != "base")
    for arm in first["arms"]:
        assert second["arms"][arm] == first["arms"][arm], arm     # exact: no tolerance
    assert second["ranking"] == first["ranking"] and second["pareto_pflops"] == first["pareto_pflops"]
    record = json.loads((tmp_path / "first" / "bench.json").read_text())
    assert record["deterministic_algorithms"] is True and all(a["threads"] >= 1 for a in record["arms"])
