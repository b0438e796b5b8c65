"""Synthetic word problems: every answer is re-derived here by an independent checker.

The checker below recomputes each answer from meta.params with its own formulas (written for this
test, importing nothing from the generator's maths: other formulations where one exists, e.g. the
loan payment as principal over a sum of discount factors, psi from the pound and the inch), parses
the number out of the final `정답:` line, and requires the two to agree within the row's tolerance
and within the rounding the question asked for.
"""

import hashlib
import json
import math
import re
from fractions import Fraction

import pytest

from data_tools.errors import DataError
from data_tools.synth import DOMAINS, TASKS, generate, write_synth

SEEDS = (0, 1, 7)
ROWS_PER_DOMAIN = 300

# --- independent checker: params -> (expected value, how the question rounds it) ---------------
# "nearest": the value before rounding; the stated answer must be it rounded to the shown digits.
# "exact": the question's rule (floor, ceiling) is applied here too, so the answers must be equal.


def _vat(p):
    if p["mode"] == "supply":
        return float(Fraction(p["total"]) * 10 / 11), "nearest"
    tax = Fraction(p["supply"], 10)
    return float(tax if p["mode"] == "tax" else p["supply"] + tax), "nearest"


def _compound(p):
    per_year = 12 if p["compounding"] == "monthly" else 1
    growth = math.exp(per_year * p["years"] * math.log1p(p["rate_pct"] / 100 / per_year))
    amount = p["principal"] * growth
    return (amount if p["ask"] == "amount" else amount - p["principal"]), "nearest"


def _loan(p):
    # The payment whose discounted stream equals the principal: P / Σ_k (1+i)^-k.
    i = p["rate_pct"] / 1200
    discount_sum = sum((1 + i) ** -k for k in range(1, p["months"] + 1))
    payment = p["principal"] / discount_sum
    if p["ask"] == "payment":
        return payment, "nearest"
    return payment * p["months"] - p["principal"], "nearest"


def _deposit(p):
    gross = Fraction(p["principal"]) * Fraction(str(p["rate_pct"])) / 100 * Fraction(p["months"], 12)
    net = gross * (1 - Fraction(str(p["tax_rate_pct"])) / 100)
    value = {"pre_tax": gross, "after_tax": net, "maturity": p["principal"] + net}[p["ask"]]
    return float(value), "nearest"


def _defect(p):
    good, bad, n = p["inspected"] - p["defects"], p["defects"], p["inspected"]
    assert p["defects_visual"] + p["defects_dimension"] == bad
    value = {"percent": 100 * bad / n, "ppm": 1e6 * bad / n, "yield": 100 * good / n}[p["ask"]]
    return value, "nearest"


def _oee(p):
    # A × P × Q collapses to (good parts × ideal cycle time) / planned time.
    assert p["planned_min"] == p["shift_min"] - p["break_min"]
    return 100 * p["good_count"] * p["ideal_cycle_s"] / (p["planned_min"] * 60), "nearest"


_INCH_M = 0.0254
_LB_KG = 0.45359237
_G = 9.80665


def _convert(p):
    v = p["value"]
    psi_pa = _LB_KG * _G / _INCH_M ** 2
    table = {
        ("inch", "mm"): lambda: v * _INCH_M * 1000,
        ("mm", "inch"): lambda: v / 1000 / _INCH_M,
        ("kgf", "N"): lambda: v * _G,
        ("N", "kgf"): lambda: v / _G,
        ("psi", "MPa"): lambda: v * psi_pa / 1e6,
        ("MPa", "psi"): lambda: v * 1e6 / psi_pa,
        ("°F", "°C"): lambda: (v + 459.67) * 5 / 9 - 273.15,  # via kelvin
        ("°C", "°F"): lambda: (v + 273.15) * 9 / 5 - 459.67,
    }
    return table[(p["from_unit"], p["to_unit"])](), "nearest"


def _takt(p):
    seconds = Fraction(p["shifts"] * (p["shift_min"] - p["break_min"]) * 60)
    if p["ask"] == "daily_output":
        return float(math.floor(seconds / Fraction(str(p["cycle_s"])))), "exact"
    takt = seconds / p["demand"]
    if p["ask"] == "takt":
        return float(takt), "nearest"
    return float(math.ceil(p["work_content_s"] / takt)), "exact"


def _bmi(p):
    h2 = (p["height_cm"] / 100) ** 2
    return (p["weight_kg"] / h2 if p["ask"] == "bmi" else p["target_bmi"] * h2), "nearest"


def _dose(p):
    daily = p["weight_kg"] * p["mg_per_kg_day"]
    one = daily / p["doses_per_day"]
    value = {"daily": daily, "per_dose": one,
             "per_dose_ml": one * p["conc_ml"] / p["conc_mg"]}[p["ask"]]
    return value, "nearest"


def _infusion(p):
    hours = p["minutes"] / 60
    if p["ask"] == "ml_per_h":
        return p["volume_ml"] / hours, "nearest"
    return p["volume_ml"] * p["drop_factor"] / p["minutes"], "nearest"


def _crcl(p):
    sex_factor = 0.85 if p["sex"] == "female" else 1.0
    return sex_factor * (140 - p["age"]) * p["weight_kg"] / (72 * p["scr_mg_dl"]), "nearest"


CHECKERS = {
    ("finance", "vat"): _vat, ("finance", "compound_interest"): _compound,
    ("finance", "loan_payment"): _loan, ("finance", "deposit_interest"): _deposit,
    ("manufacturing", "defect_rate"): _defect, ("manufacturing", "oee"): _oee,
    ("manufacturing", "unit_conversion"): _convert, ("manufacturing", "takt_time"): _takt,
    ("healthcare", "bmi"): _bmi, ("healthcare", "dose_per_kg"): _dose,
    ("healthcare", "infusion_rate"): _infusion, ("healthcare", "creatinine_clearance"): _crcl,
}

ANSWER_LINE = re.compile(r"\n\n정답: (-?\d{1,3}(?:,\d{3})*(?:\.(\d+))?) ?(\S+)$")
HANGUL = re.compile(r"[\uac00-\ud7a3]")


def parse_answer(text: str):
    """(value, digits after the point, unit) from the assistant message's last line."""
    m = ANSWER_LINE.search(text)
    assert m, f"no final answer line in {text[-80:]!r}"
    return float(m.group(1).replace(",", "")), len(m.group(2) or ""), m.group(3)


def test_every_task_has_a_checker():
    assert set(CHECKERS) == {(d, t) for d in DOMAINS for t in TASKS[d]}
    assert all(len(TASKS[d]) >= 3 for d in DOMAINS)


@pytest.mark.parametrize("domain", DOMAINS)
@pytest.mark.parametrize("seed", SEEDS)
def test_answers_match_independent_checker(domain, seed):
    rows = generate(domain, ROWS_PER_DOMAIN, seed=seed)
    assert len(rows) == ROWS_PER_DOMAIN
    for row in rows:
        meta = row["meta"]
        user, assistant = row["messages"]
        assert (user["role"], assistant["role"]) == ("user", "assistant")
        assert HANGUL.search(user["content"])
        reasoning, _, tail = assistant["content"].partition("\n</think>\n\n")
        assert reasoning.startswith("<think>\n") and len(reasoning) > len("<think>\n") + 20
        assert tail.startswith("정답: ") and "\n" not in tail

        stated, digits, unit = parse_answer(assistant["content"])
        assert unit == meta["unit"], (unit, meta)
        assert stated == pytest.approx(meta["answer"], rel=1e-12, abs=1e-9)

        expected, rule = CHECKERS[(domain, meta["task"])](meta["params"])
        where = f"{meta['template_id']} {meta['params']}"
        assert abs(stated - expected) <= meta["tolerance"] * abs(expected), where
        if rule == "exact":
            assert stated == expected, where
        else:  # rounded to the digits shown: off by at most half a unit in the last place
            assert abs(stated - expected) <= 0.5 * 10 ** -digits + 1e-9, where


@pytest.mark.parametrize("domain", DOMAINS)
def test_answer_line_parses_korean_formats(domain):
    # Thousands separators and attached/spaced units all come back as the stored number.
    assert parse_answer("…\n\n정답: 12,345원") == (12345.0, 0, "원")
    assert parse_answer("…\n\n정답: 1,060.45 mm") == (1060.45, 2, "mm")
    assert parse_answer("…\n\n정답: 42 gtt/min") == (42.0, 0, "gtt/min")
    units = {r["meta"]["unit"] for r in generate(domain, 200, seed=3)}
    assert units and all(HANGUL.search(u) or re.search(r"[A-Za-z%°²]", u) for u in units)


@pytest.mark.parametrize("domain", DOMAINS)
def test_train_and_test_templates_are_disjoint(domain):
    train = generate(domain, 400, seed=2, split="train")
    test = generate(domain, 400, seed=2, split="test")
    train_ids = {r["meta"]["template_id"] for r in train}
    test_ids = {r["meta"]["template_id"] for r in test}
    assert not train_ids & test_ids
    assert {r["meta"]["split"] for r in train} == {"train"}
    assert {r["meta"]["split"] for r in test} == {"test"}
    # Every task appears in both splits, through >= 1 test template and >= 4 templates in all.
    for task in TASKS[domain]:
        ids_train = {i for i in train_ids if i.startswith(f"{domain}.{task}.")}
        ids_test = {i for i in test_ids if i.startswith(f"{domain}.{task}.")}
        assert ids_test and len(ids_train) + len(ids_test) >= 4, task
    # Different wording means no test question is a train question.
    assert not {r["messages"][0]["content"] for r in train} & {r["messages"][0]["content"] for r in test}


@pytest.mark.parametrize("domain", DOMAINS)
def test_same_seed_same_rows_and_balanced_tasks(domain):
    a = generate(domain, 120, seed=11)
    assert a == generate(domain, 120, seed=11)
    assert a != generate(domain, 120, seed=12)
    per_task = {t: sum(r["meta"]["task"] == t for r in a) for t in TASKS[domain]}
    assert set(per_task.values()) == {120 // len(TASKS[domain])}
    questions = [r["messages"][0]["content"] for r in a]
    assert len(set(questions)) == len(questions)
    json.loads(json.dumps(a, ensure_ascii=False))  # plain JSON all the way down


def test_write_synth_datacard_adds_up(tmp_path):
    card = write_synth("finance", 101, tmp_path / "fin", seed=4, test_fraction=0.2)
    out = tmp_path / "fin"
    assert card == json.loads((out / "datacard.json").read_text(encoding="utf-8"))
    assert card["counts"] == {"train": 81, "test": 20, "total": 101}
    assert not list(out.glob("*.tmp"))
    for split in ("train", "test"):
        data = (out / f"{split}.jsonl").read_bytes()
        rows = [json.loads(line) for line in data.decode("utf-8").splitlines()]
        assert len(rows) == card["counts"][split] == card["files"][f"{split}.jsonl"]["rows"]
        assert hashlib.sha256(data).hexdigest() == card["files"][f"{split}.jsonl"]["sha256"]
        assert {r["meta"]["split"] for r in rows} == {split}
        assert sum(card["templates"][split].values()) == len(rows)
        assert sum(c[split] for c in card["tasks"].values()) == len(rows)
        assert {r["meta"]["template_id"] for r in rows} <= set(card["templates"][split])
    assert not set(card["templates"]["train"]) & set(card["templates"]["test"])
    assert card["seed"] == 4 and card["domain"] == "finance"

    again = write_synth("finance", 101, out, seed=4, test_fraction=0.2)  # overwrite: same bytes
    assert again["files"] == card["files"]


def test_bad_input_raises_data_error(tmp_path):
    with pytest.raises(DataError) as err:
        generate("retail", 10)
    assert all(d in str(err.value) for d in DOMAINS)
    with pytest.raises(DataError, match="valid domains"):
        write_synth("Finance", 10, tmp_path)
    with pytest.raises(DataError, match="split"):
        generate("finance", 10, split="dev")
    with pytest.raises(DataError, match="n must"):
        generate("finance", -1)
    with pytest.raises(DataError, match="test_fraction"):
        write_synth("finance", 10, tmp_path, test_fraction=1.0)
    with pytest.raises(DataError, match="too small"):
        write_synth("finance", 1, tmp_path)
    assert not (tmp_path / "datacard.json").exists()
