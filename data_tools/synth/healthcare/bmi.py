"""체질량지수 BMI = 체중(kg) ÷ 키(m)², and the weight that reaches a target BMI.

Weights are drawn from a BMI of 16–36 at the sampled height, so a 150 cm adult never weighs 120 kg.
The reasoning names the Korean adult category (대한비만학회 2022: 저체중 < 18.5, 정상 < 23,
비만 전단계 < 25, 1단계 비만 < 30, 2단계 비만 < 35, 3단계 비만 ≥ 35) as context only.
"""

from __future__ import annotations

from ..core import Solution, Task, fixed, num, round_half_up, templates

TARGETS = (20.0, 21.0, 22.0, 22.5, 23.0)
NAMES = ("김민준", "이서연", "박지훈", "최수아", "정도윤", "강하은", "윤재현")
CATEGORIES = ((18.5, "저체중"), (23.0, "정상"), (25.0, "비만 전단계"), (30.0, "1단계 비만"),
              (35.0, "2단계 비만"), (float("inf"), "3단계 비만"))


def sample(rng) -> dict:
    height = rng.randint(1_450, 1_950) / 10
    weight = round(rng.uniform(16, 36) * (height / 100) ** 2, 1)
    return {"height_cm": height, "weight_kg": weight, "ask": rng.choice(("bmi", "target_weight")),
            "target_bmi": rng.choice(TARGETS),
            "age": rng.randint(20, 79), "sex": rng.choice(("남성", "여성")),
            "waist_cm": rng.randint(65, 110), "sbp": rng.randint(100, 160), "dbp": rng.randint(60, 100),
            "weight_change_kg": rng.randint(1, 8), "name": rng.choice(NAMES)}


def category(bmi: float) -> str:
    return next(name for bound, name in CATEGORIES if bmi < bound)


def solve(p: dict) -> Solution:
    h_m = p["height_cm"] / 100
    steps = [f"키 {num(p['height_cm'])}cm = {num(h_m)} m, 키의 제곱 = {num(h_m)}² = {h_m ** 2:.6f} m²"]
    if p["ask"] == "bmi":
        raw = p["weight_kg"] / h_m ** 2
        answer = round_half_up(raw, 1)
        steps += ["BMI = 체중(kg) ÷ 키(m)²",
                  f"BMI = {num(p['weight_kg'])} ÷ {h_m ** 2:.6f} = {raw:.4f}",
                  f"소수점 첫째 자리까지 반올림하면 {fixed(answer, 1)} kg/m²",
                  f"(대한비만학회 기준으로 {category(answer)}에 해당한다.)"]
        return Solution(answer, "kg/m²", 1, tuple(steps))
    raw = p["target_bmi"] * h_m ** 2
    answer = round_half_up(raw, 1)
    steps += ["BMI = 체중 ÷ 키² 이므로 체중 = 목표 BMI × 키²",
              f"목표 체중 = {num(p['target_bmi'])} × {h_m ** 2:.6f} = {raw:.4f} kg",
              f"소수점 첫째 자리까지 반올림하면 {fixed(answer, 1)} kg"]
    return Solution(answer, "kg", 1, tuple(steps))


def _question(p):
    if p["ask"] == "bmi":
        return "체질량지수(BMI)는 얼마인가? (kg/m², 소수점 첫째 자리까지 반올림)"
    return (f"체중만 바꾸어 BMI를 {num(p['target_bmi'])}에 맞추려면 체중은 몇 kg이어야 하는가? "
            f"(소수점 첫째 자리까지 반올림)")


def _t1(p):
    return f"키 {num(p['height_cm'])}cm, 몸무게 {num(p['weight_kg'])}kg인 성인이 있다. {_question(p)}"


def _t2(p):
    return (f"{p['age']}세 {p['sex']}이 건강검진을 받았다. 신장 {num(p['height_cm'])}cm, 체중 "
            f"{num(p['weight_kg'])}kg, 허리둘레 {p['waist_cm']}cm로 측정되었다. {_question(p)}")


def _t3(p):
    return (f"외래 기록: 신장 {num(p['height_cm'])} cm / 체중 {num(p['weight_kg'])} kg / 혈압 "
            f"{p['sbp']}/{p['dbp']} mmHg. {_question(p)}")


def _t4(p):
    return (f"BMI는 체중(kg)을 키(m)의 제곱으로 나눈 값이다. 몸무게가 {num(p['weight_kg'])}kg이고 키가 "
            f"{num(p['height_cm'])}cm인 사람에 대해 답하라. {_question(p)}")


def _t5(p):
    return (f"{p['name']} 씨({p['age']}세)는 현재 체중이 {num(p['weight_kg'])}kg이고 신장은 "
            f"{num(p['height_cm'])}cm이다. 지난해보다 체중이 {p['weight_change_kg']}kg 늘었다고 한다. "
            f"현재 값을 기준으로 답하라. {_question(p)}")


TASK = Task("healthcare", "bmi", sample, solve, templates(
    "healthcare.bmi", ("train", _t1), ("train", _t2), ("train", _t3), ("test", _t4), ("test", _t5)))
