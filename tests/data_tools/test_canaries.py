"""Canaries for the memorisation audit: inserted at prepare time, counted in the datacard, kept out of its text."""
import json
import random
from collections import Counter

import pytest

from data_tools.canaries import CANARIES_FILE, CANARY_SOURCE, make_canaries
from data_tools.canary_secrets import SECRET_KINDS, draw_distinct, draw_secret
from data_tools.errors import DataError
from data_tools.pii import find_pii
from data_tools.prepare import prepare
from data_tools.prepare_config import PrepareConfig, load_prepare_config
from tests.helpers import ROOT

SHIPPED = str(ROOT / "data_tools" / "shipped" / "sft" / "finance.jsonl")


def prepared(tmp_path, **canaries):
    cfg = PrepareConfig(inputs=[{"path": SHIPPED}], output={"dir": str(tmp_path / "out"), "eval_fraction": 0.1},
                        workers=1, privacy={"canaries": canaries})
    return prepare(cfg, progress=False), tmp_path / "out"


def test_insertion_counts_add_up_in_the_card_and_secrets_stay_out_of_it(tmp_path):
    card, out = prepared(tmp_path, repetitions=[1, 4, 32], kind="phone", seed=7, controls=2)
    section = card["privacy"]["canaries"]
    assert section["rows_inserted"] == 37 and section["train_rows_before"] == card["counts"]["per_split"]["train"]
    assert card["outputs"]["train.jsonl"]["rows"] == card["counts"]["per_split"]["train"] + 37 == section["train_rows_after"]
    assert card["counts"]["kept"] == card["counts"]["per_split"]["train"] + card["counts"]["per_split"]["eval"]

    spec = json.loads((out / CANARIES_FILE).read_text(encoding="utf-8"))
    assert [c["repetitions"] for c in spec["canaries"]] == [1, 4, 32] and len(spec["controls"]) == 2
    rows = [json.loads(line) for line in (out / "train.jsonl").read_text(encoding="utf-8").splitlines()]
    text = "\n".join(m["content"] for r in rows for m in r["messages"])
    for c in spec["canaries"] + spec["controls"]:
        assert text.count(c["secret"]) == c["repetitions"]          # controls: never inserted
    marked = Counter(r["meta"]["canary"] for r in rows if r["meta"]["source"] == CANARY_SOURCE)
    assert marked == {c["id"]: c["repetitions"] for c in spec["canaries"]}
    assert 0 < min(i for i, r in enumerate(rows) if r["meta"]["source"] == CANARY_SOURCE) < len(rows) - 37  # spread, not appended
    eval_text = (out / "eval.jsonl").read_text(encoding="utf-8")
    card_text = (out / "datacard.json").read_text(encoding="utf-8")
    for c in spec["canaries"] + spec["controls"]:
        assert c["secret"] not in eval_text and c["secret"] not in card_text


def test_same_seed_same_secrets_and_a_rerun_without_canaries_removes_the_file(tmp_path):
    a, b = make_canaries(_cfg(seed=3)), make_canaries(_cfg(seed=3))
    assert a == b and a != make_canaries(_cfg(seed=4))
    _, out = prepared(tmp_path, repetitions=[2])
    assert (out / CANARIES_FILE).is_file()
    card = prepare(PrepareConfig(inputs=[{"path": SHIPPED}], output={"dir": str(out)}, workers=1), progress=False)
    assert card["privacy"] == {"canaries": None} and not (out / CANARIES_FILE).exists()


@pytest.mark.parametrize("kind", SECRET_KINDS)
def test_secrets_are_distinct_and_read_as_their_pii_kind(kind):
    secrets = draw_distinct(kind, random.Random(0), 200, exclude={draw_secret(kind, random.Random(0))})
    assert len(set(secrets)) == 200 and draw_secret(kind, random.Random(0)) not in secrets
    template = make_canaries(_cfg(kind=kind))["template"]
    expected = {"rrn": "rrn", "phone": "phone", "account": "bank_account"}[kind]
    for s in secrets[:50]:
        spans = find_pii(template.replace("{secret}", s))
        assert [(x.kind, x.text) for x in spans] == [(expected, s)], s


def test_bad_canary_config_and_non_chat_data_are_user_errors(tmp_path):
    bad = tmp_path / "c.yaml"
    bad.write_text("inputs: [{path: a.jsonl}]\nprivacy:\n  canaries: {repetitions: [0], templat: x}\n")
    with pytest.raises(DataError) as err:
        load_prepare_config(bad)
    assert "privacy.canaries.repetitions" in str(err.value) and "did you mean 'template'" in str(err.value)
    cls = tmp_path / "cls.jsonl"
    cls.write_text("".join(json.dumps({"text": f"카드 결제 문의 {i}번 드립니다", "label": "카드"}, ensure_ascii=False) + "\n"
                           for i in range(5)), encoding="utf-8")
    with pytest.raises(DataError, match="needs a chat dataset"):
        prepare(PrepareConfig(inputs=[{"path": str(cls)}], output={"dir": str(tmp_path / "o")}, workers=1,
                              privacy={"canaries": {}}), progress=False)


def _cfg(**kw):
    from data_tools.canaries import CanaryConfig
    return CanaryConfig(**kw)
