"""`kdtune audit memorization` end to end on a tiny model: prepare data with canaries, train on it,
audit. The canary inserted 48 times must be exposed (and the verdict say so); the never-inserted
control must not; the report's numbers must agree with each other and with canaries.json."""
import json
import math

from recipes.cli import main
from tests.helpers import ROOT

SHIPPED = ROOT / "data_tools" / "shipped" / "sft" / "finance.jsonl"


def test_repeated_canary_is_exposed_and_the_control_is_not(tmp_path, capsys):
    data = tmp_path / "data"
    assert main(["data", "prepare", "--input", str(SHIPPED), "--out", str(data), "--workers", "1",
                 "privacy.canaries.repetitions=[1,48]", "privacy.canaries.kind=phone", "privacy.canaries.seed=3",
                 "output.eval_fraction=0.1"]) == 0
    card = json.loads((data / "datacard.json").read_text())
    assert card["outputs"]["train.jsonl"]["rows"] == card["counts"]["per_split"]["train"] + 49
    # full fine-tune at a high learning rate: a memorisation probe, not a recipe to ship
    assert main(["run", "sft", "--config", "smoke/tiny_full.yaml", f"data.path={data}", "train.max_steps=40",
                 "train.lr=3e-3", "train.micro_batch_size=8", "train.grad_accum=1", "train.save_every=0",
                 "data.max_seq_len=128", f"output.dir={tmp_path}", "output.name=r"]) == 0
    capsys.readouterr()
    assert main(["audit", "memorization", f"run={tmp_path / 'r'}", "canaries.candidates=255",
                 "canaries.threshold_bits=6", "extraction.rows=6", "extraction.prefix_tokens=4",
                 "extraction.continuation_tokens=6"]) == 0
    printed = capsys.readouterr().out
    report = json.loads((tmp_path / "r" / "memorization.json").read_text())
    md = (tmp_path / "r" / "memorization.md").read_text()
    spec = json.loads((data / "canaries.json").read_text())

    c = report["canaries"]
    by_id = {s["id"]: s for s in c["secrets"]}
    assert [by_id[x["id"]]["secret"] for x in spec["canaries"] + spec["controls"]] == \
        [x["secret"] for x in spec["canaries"] + spec["controls"]]
    repeated, control = by_id["canary-2"], by_id["control-1"]
    assert repeated["repetitions"] == 48 and control["repetitions"] == 0
    assert c["candidates"] == 255 and c["max_bits"] == math.log2(256)
    for s in c["secrets"]:   # exposure and rank agree (log2 pool - log2 rank)
        assert s["exposure_bits"] == math.log2(256) - math.log2(s["rank"])
    assert repeated["exposure_bits"] >= 6 and repeated["exposed"]
    assert control["exposure_bits"] < 6 and not control["exposed"]
    assert repeated["log_perplexity_nats"] < control["log_perplexity_nats"]
    assert report["verdict"]["level"] == "memorises" and "canary-2 (inserted 48x)" in report["verdict"]["summary"]
    assert report["verdict"]["summary"] in printed and report["verdict"]["summary"] in md

    x = report["extraction"]
    for split in ("train", "heldout"):
        r = x[split]
        assert r["rows"] <= 6 and 0 <= r["verbatim"] <= r["rows"] and 0 <= r["mean_matched_tokens"] <= 6
    assert x["pii"]["outputs_scanned"] == x["train"]["rows"] + x["heldout"]["rows"] + 1
    assert sum(x["pii"]["per_kind"].values()) == x["pii"]["found"]


def test_nothing_to_audit_and_an_unreachable_threshold_are_user_errors(capsys):
    assert main(["audit", "memorization"]) == 2
    assert "nothing to audit: set run=RUN_DIR" in capsys.readouterr().err
    assert main(["audit", "memorization", "run=x", "canaries.candidates=100"]) == 2   # log2(101) < 8 bits
    assert "raise candidates to at least 255" in capsys.readouterr().err
