"""체중당 용량: 1일 총량(mg), 1회 용량(mg), 시럽 1회 용량(mL) from mg/kg/day and divided doses.

Drugs are named by class only: the numbers are arithmetic practice, not prescribing guidance.
Syrup volumes are shown to 0.01 mL and kept at 2 mL or more so rounding stays under 0.25%.
"""

from __future__ import annotations

from ..core import Solution, Task, eul, fixed, num, round_half_up, templates

DRUGS = ("항생제 시럽", "해열진통제 시럽", "항경련제 현탁액", "항바이러스제 시럽")
CONCENTRATIONS = (100, 125, 160, 200, 250)  # mg per 5 mL


def sample(rng) -> dict:
    while True:
        p = {"weight_kg": rng.randint(50, 400) / 10, "mg_per_kg_day": rng.randint(2, 18) * 5,
             "doses_per_day": rng.choice((2, 3, 4)), "conc_mg": rng.choice(CONCENTRATIONS),
             "conc_ml": 5, "ask": rng.choice(("daily", "per_dose", "per_dose_ml"))}
        per_dose_ml = p["weight_kg"] * p["mg_per_kg_day"] / p["doses_per_day"] / p["conc_mg"] * p["conc_ml"]
        if per_dose_ml >= 2:
            break
    p.update(drug=rng.choice(DRUGS), age_months=_age_months(p["weight_kg"], rng),
             temp_c=rng.randint(365, 400) / 10,
             prev_weight_kg=round(p["weight_kg"] - rng.randint(1, 5) / 10, 1))
    return p


def _age_months(weight_kg: float, rng) -> int:
    """A plausible age for the weight, so no 4-year-old weighs 6 kg: infants gain about 0.5 kg a
    month; from one year, weight ≈ 2 × age(years) + 8 (the APLS estimate). ±10% jitter."""
    months = (weight_kg - 3.5) / 0.5 if weight_kg < 10 else (weight_kg - 8) / 2 * 12
    return max(2, round(months * rng.uniform(0.9, 1.1)))


def solve(p: dict) -> Solution:
    w, dose, k = p["weight_kg"], p["mg_per_kg_day"], p["doses_per_day"]
    daily = w * dose
    steps = ["1일 총량(mg) = 체중(kg) × 1일 용량(mg/kg)",
             f"= {num(w)} kg × {num(dose)} mg/kg = {fixed(daily, 2)} mg"]
    if p["ask"] == "daily":
        answer = round_half_up(daily, 1)
        steps.append(f"소수점 첫째 자리까지 반올림하면 {fixed(answer, 1)} mg")
        return Solution(answer, "mg", 1, tuple(steps))
    per_dose = daily / k
    steps.append(f"1회 용량 = 1일 총량 ÷ 투여 횟수 = {fixed(daily, 2)} mg ÷ {k} = {fixed(per_dose, 4)} mg")
    if p["ask"] == "per_dose":
        answer = round_half_up(per_dose, 1)
        steps.append(f"소수점 첫째 자리까지 반올림하면 {fixed(answer, 1)} mg")
        return Solution(answer, "mg", 1, tuple(steps))
    per_ml = p["conc_mg"] / p["conc_ml"]
    volume = per_dose / per_ml
    answer = round_half_up(volume, 2)
    steps += [f"농도 = {p['conc_mg']} mg ÷ {p['conc_ml']} mL = {num(per_ml)} mg/mL",
              f"1회 투여 부피 = {fixed(per_dose, 4)} mg ÷ {num(per_ml)} mg/mL = {fixed(volume, 4)} mL",
              f"소수점 둘째 자리까지 반올림하면 {fixed(answer, 2)} mL"]
    return Solution(answer, "mL", 2, tuple(steps))


def _question(p):
    if p["ask"] == "daily":
        return "하루 총 투여량은 몇 mg인가? (소수점 첫째 자리까지 반올림)"
    if p["ask"] == "per_dose":
        return "1회 투여량은 몇 mg인가? (소수점 첫째 자리까지 반올림)"
    return (f"이 약의 농도가 {p['conc_mg']} mg/{p['conc_ml']} mL일 때 1회에 투여할 양은 몇 mL인가? "
            f"(소수점 둘째 자리까지 반올림)")


def _t1(p):
    return (f"체중 {num(p['weight_kg'])}kg인 소아에게 {eul(p['drug'])} 하루 {p['mg_per_kg_day']} mg/kg로 "
            f"처방하고 하루 {p['doses_per_day']}회 나누어 투여한다. {_question(p)}")


def _t2(p):
    return (f"처방: {p['drug']} {p['mg_per_kg_day']} mg/kg/day, 1일 {p['doses_per_day']}회 분할 투여. "
            f"환아 체중 {num(p['weight_kg'])} kg. {_question(p)}")


def _t3(p):
    return (f"생후 {p['age_months']}개월 환아가 체온 {num(p['temp_c'])}°C로 내원했다. 체중은 "
            f"{num(p['weight_kg'])}kg이다. 의사는 {eul(p['drug'])} 하루 "
            f"{p['mg_per_kg_day']} mg/kg, {p['doses_per_day']}회 분할로 처방했다. {_question(p)}")


def _t4(p):
    return (f"{_question(p)} 조건: 환자 체중 {num(p['weight_kg'])} kg, 1일 용량 {p['mg_per_kg_day']} mg/kg, "
            f"하루 분할 횟수 {p['doses_per_day']}회, 약물 {p['drug']}.")


def _t5(p):
    return (f"간호사가 투약을 준비하고 있다. {p['drug']}의 1일 처방 용량은 체중 1kg당 {p['mg_per_kg_day']} mg"
            f"이고, 이를 하루 {p['doses_per_day']}번에 나누어 준다. 환아의 오늘 측정 체중은 "
            f"{num(p['weight_kg'])}kg(지난주 {num(p['prev_weight_kg'])}kg)이며 오늘 체중을 기준으로 한다. "
            f"{_question(p)}")


TASK = Task("healthcare", "dose_per_kg", sample, solve, templates(
    "healthcare.dose_per_kg",
    ("train", _t1), ("train", _t2), ("train", _t3), ("test", _t4), ("test", _t5)))
