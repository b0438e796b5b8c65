"""Accuracy-per-compute report: from hand-made run directories (ranks, overlaps, Pareto sets, gains,
table, plots, `kdtune report`), and a real tiny bench whose broken arm is recorded, not fatal."""
import json
from pathlib import Path

import pytest
import yaml

from recipes.cli import main
from trainers.errors import UserError
from trainers.reporting.reporting import build_report, collect, markdown, pareto, write_report

PNG = b"\x89PNG\r\n\x1a\n"


def compute_record(phase: str, pflops: float, krw: float, hours: float, teacher: dict | None = None) -> dict:
    """A compute.json as the meter writes it (trainers.run.records.ComputeRecord), for the given totals."""
    from trainers.run.records import ComputeRecord, TeacherCharge, totals_with
    charge = TeacherCharge(**teacher) if teacher else None
    return ComputeRecord(
        phase=phase, device="cpu", gpu="CPU", tokens=1000, target_tokens=400, total_flops=int(pflops * 1e15),
        model_flops=int(pflops * 1e15), pflops=pflops, seconds=hours * 3600, seconds_basis="wall clock",
        wall_seconds=hours * 3600, tokens_per_s=None, achieved_tflops=None, model_tflops=None,
        peak_tflops=None, mfu=None, mfu_basis="4N+12LHQT+adapter", energy_J=None, energy_reason="cpu",
        device_hours=hours, price_krw_per_hour=krw / hours, cost_krw=krw, teacher=charge,
        totals=totals_with(pflops, hours, krw, charge)).model_dump(mode="json")


def fake_run(root: Path, name: str, recipe: str, method: str | None, correct: int, n: int,
             pflops: float, krw: float, hours: float, teacher: dict | None = None) -> Path:
    from trainers.evaluation.intervals import wilson_interval
    d = root / name
    d.mkdir(parents=True)
    (d / "config.yaml").write_text(yaml.safe_dump({"recipe": recipe}))
    (d / "manifest.json").write_text(json.dumps({"recipe": recipe, "method": method}))
    phase = "eval" if recipe == "eval" else "train"
    (d / "compute.json").write_text(json.dumps(compute_record(phase, pflops, krw, hours, teacher)))
    (d / "eval.json").write_text(json.dumps({"dataset": "synth-mcqa:finance", "overall": {
        "n": n, "correct": correct, "missing": 0, "accuracy": correct / n, "ci95": list(wilson_interval(correct, n))},
        "compute": {"pflops": 1e-6, "cost_krw": 0.01}}))
    return d


@pytest.fixture
def runs(tmp_path):
    # base is eval-only: its compute.json (phase eval) must not be billed as training
    return [fake_run(tmp_path, "base", "eval", None, 40, 200, 5.0, 7.0, 0.1),
            fake_run(tmp_path, "lora-r8", "sft", "lora", 120, 200, 2.0, 500.0, 0.5),
            fake_run(tmp_path, "lora-r64", "sft", "lora", 124, 200, 3.0, 800.0, 0.8),
            fake_run(tmp_path, "full", "sft", "full", 110, 200, 6.0, 2000.0, 2.0)]


def test_pareto_keeps_only_undominated_points():
    pts = [("a", 0.0, 0.2), ("b", 1.0, 0.6), ("c", 2.0, 0.5), ("d", 3.0, 0.7), ("e", 3.0, 0.6)]
    assert pareto(pts) == ["a", "b", "d"]


def test_report_ranks_gains_overlaps_and_pareto(runs):
    arms, baseline = collect(runs)
    report = build_report(arms)
    assert report["baseline"] == "base" and baseline is None
    assert report["ranking"] == ["lora-r64", "lora-r8", "full", "base"]
    by = {a["name"]: a for a in report["arms"]}
    assert by["base"]["pflops"] == 0.0 and by["base"]["cost_krw"] == 0.0     # eval-only: no training bill
    # 62% vs 60% overlap; 55% [48.1, 61.7] overlaps 60% [53.1, 66.5]; the base (20%) overlaps nobody
    assert set(by["lora-r64"]["overlaps_with"]) == {"lora-r8", "full"}
    assert by["base"]["overlaps_with"] == []
    # gains in percentage points; the cheapest trained arm costs 500 KRW, so they are per 100 KRW
    assert report["cost_unit_krw"] == 100
    assert by["lora-r8"]["gain_pp_per_cost_unit"] == pytest.approx(40.0 / 5.0)
    assert by["full"]["gain_pp_per_pflop"] == pytest.approx(35.0 / 6.0)
    assert by["base"]["gain_pp_per_cost_unit"] is None and by["base"]["gain_pp"] == 0.0
    assert not by["lora-r8"]["gain_within_noise"]          # 60% [53, 66] vs base 20% [15, 26]
    assert report["pareto_pflops"] == ["base", "lora-r8", "lora-r64"]
    assert report["pareto_krw"] == ["base", "lora-r8", "lora-r64"]
    table = markdown(report)
    assert "| 1 | lora-r64 | lora | 62.0% [" in table
    assert "Δacc (pp) per 100 KRW" in table
    assert "| +8.00 |" in table      # lora-r8: +40 points for 500 KRW = +8 points per 100 KRW
    assert "overlaps 2 of the other 3 arms" in table


def test_teacher_compute_carried_into_a_run_is_billed_in_its_totals(tmp_path):
    teacher = {"pflops": 4.0, "device_hours": 1.5, "cost_krw": 300.0, "complete": True,
               "sources": [{"path": "cache/fin", "phase": "distill-cache", "total_flops": int(4e15),
                            "device_hours": 1.5, "cost_krw": 300.0}]}
    run = fake_run(tmp_path, "kd-cached", "distill", "lora", 130, 200, 2.0, 500.0, 0.5, teacher)
    (arm,), _ = collect([run])
    assert (arm["pflops"], arm["teacher_pflops"], arm["device_hours"], arm["cost_krw"]) == (6.0, 4.0, 2.0, 800.0)
    assert arm["train_seconds"] == 0.5 * 3600        # training alone
    (run / "compute.json").write_text(json.dumps({"phase": "train", "pflops": 1.0}))   # not a record
    with pytest.raises(UserError, match="not a valid ComputeRecord"):
        collect([run])


def test_report_files_and_cli_rebuild(runs, tmp_path):
    out = tmp_path / "rep"
    write_report(collect(runs)[0], out)
    for png in ("accuracy_vs_pflops.png", "accuracy_vs_krw.png"):
        data = (out / png).read_bytes()
        assert data.startswith(PNG) and 5_000 < len(data) < 300_000
    assert json.loads((out / "report.json").read_text())["ranking"][0] == "lora-r64"
    # `kdtune report` rebuilds the same ranking, here against another baseline
    assert main(["report", *map(str, runs), "--out", str(tmp_path / "cli"), "--baseline", "full"]) == 0
    rebuilt = json.loads((tmp_path / "cli" / "report.json").read_text())
    assert rebuilt["ranking"] == ["lora-r64", "lora-r8", "full", "base"] and rebuilt["baseline"] == "full"
    assert main(["report", *map(str, runs)]) == 2        # several runs need --out


def test_bench_records_a_failing_arm_and_reports_the_others(tmp_path):
    cfg = tmp_path / "bench.yaml"
    cfg.write_text(yaml.safe_dump({
        "recipe": "bench", "train_config": "smoke/tiny_lora.yaml",
        "train_data": {"dataset": "synth:finance", "n": 16},
        "eval": {"dataset": "builtin:mcqa/finance", "n": 8},
        "arms": [{"name": "base", "base_only": True},
                 {"name": "lora", "overrides": {"train.max_steps": 2, "train.save_every": 0,
                                                "data.max_seq_len": 128}},
                 {"name": "broken", "overrides": {"lora.r": 0}}],
        "compute": {"gpu": "cpu", "price_krw_per_hour": 1000.0},
        "output": {"dir": str(tmp_path / "out"), "name": "b"}}))
    assert main(["run", "bench", "--config", str(cfg)]) == 0
    bench = tmp_path / "out" / "b"
    record = json.loads((bench / "bench.json").read_text())
    assert [a["status"] for a in record["arms"]] == ["ok", "ok", "failed"]
    assert "lora.r" in record["arms"][2]["error"]
    report = json.loads((bench / "report.json").read_text())
    assert sorted(report["ranking"]) == ["base", "lora"]
    lora = next(a for a in report["arms"] if a["name"] == "lora")
    comp = json.loads((bench / "lora" / "compute.json").read_text())
    assert lora["pflops"] == comp["totals"]["pflops"] == comp["pflops"] > 0 and comp["price_krw_per_hour"] == 1000.0
    assert (bench / "lora" / "eval.json").is_file() and (bench / "data" / "train.jsonl").is_file()
    assert "**failed**" in (bench / "report.md").read_text()
    assert (bench / "accuracy_vs_krw.png").read_bytes().startswith(PNG)


def test_tied_accuracies_rank_by_counted_flops_not_by_measured_cost(tmp_path):
    # cost_krw comes from measured seconds and differs between two runs of the same config; the
    # ranking must not: the arm with fewer counted PFLOPs goes first whatever its cost was
    cheap_flops = fake_run(tmp_path, "qlora-r8", "sft", "qlora", 100, 200, 1.0, 900.0, 0.5)
    dear_flops = fake_run(tmp_path, "lora-r8", "sft", "lora", 100, 200, 2.0, 300.0, 0.5)
    for order in ([cheap_flops, dear_flops], [dear_flops, cheap_flops]):
        arms, _ = collect(order)
        assert build_report(arms)["ranking"] == ["qlora-r8", "lora-r8"]


def test_report_compares_arms_item_by_item_on_request(tmp_path):
    from trainers.evaluation.paired import exact_mcnemar_p
    a = fake_run(tmp_path, "kd", "distill", "lora", 7, 10, 1.0, 10.0, 0.1)
    b = fake_run(tmp_path, "sft", "sft", "lora", 4, 10, 1.0, 10.0, 0.1)
    for run, right in ((a, [1, 1, 1, 1, 1, 1, 1, 0, 0, 0]), (b, [1, 1, 1, 0, 0, 0, 0, 1, 0, 0])):
        ev = json.loads((run / "eval.json").read_text())
        ev["predictions"] = [{"id": f"{i:05d}", "gold": "x", "predicted": "x" if r else "y"} for i, r in enumerate(right)]
        (run / "eval.json").write_text(json.dumps(ev))
    assert main(["report", str(a), str(b), "--out", str(tmp_path / "rep"), "--compare", "kd,sft"]) == 0
    [row] = json.loads((tmp_path / "rep" / "report.json").read_text())["paired"]
    assert (row["both_right"], row["only_a"], row["only_b"], row["both_wrong"]) == (3, 4, 1, 2)
    assert row["p_exact_mcnemar"] == pytest.approx(exact_mcnemar_p(4, 1)) and not row["separated"]
    assert "| kd vs sft | 10 | 3 | 4 | 1 | 2 | +30.0 |" in (tmp_path / "rep" / "report.md").read_text()
    assert main(["report", str(a), str(b), "--out", str(tmp_path / "rep"), "--compare", "kd,sfft"]) == 2
    assert main(["report", str(a), str(b), "--out", str(tmp_path / "rep"), "--compare", "kd"]) == 2
