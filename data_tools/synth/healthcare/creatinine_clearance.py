"""크레아티닌 청소율 by Cockcroft–Gault: CrCl = (140 − 나이) × 체중 ÷ (72 × SCr), 여성 × 0.85.

Used to adjust renally cleared drug doses. Inputs span adults 20–90 years, 40–110 kg and serum
creatinine 0.5–3.0 mg/dL, so the smallest result (about 8 mL/min) still rounds within 1%.
"""

from __future__ import annotations

from ..core import Solution, Task, fixed, josa, num, round_half_up, templates

NAMES = ("김민준", "이서연", "박지훈", "최수아", "정도윤", "강하은", "윤재현")
SEX_KR = {"male": "남성", "female": "여성"}


def sample(rng) -> dict:
    scr = rng.randint(50, 300) / 100
    return {"age": rng.randint(20, 90), "weight_kg": rng.randint(400, 1_100) / 10, "scr_mg_dl": scr,
            "sex": rng.choice(("male", "female")), "height_cm": rng.randint(145, 190),
            "bun_mg_dl": rng.randint(8, 60), "name": rng.choice(NAMES),
            "prev_scr_mg_dl": max(0.4, round(scr + rng.randint(-30, 40) / 100, 2))}


def solve(p: dict) -> Solution:
    age, w, scr = p["age"], p["weight_kg"], p["scr_mg_dl"]
    base = (140 - age) * w / (72 * scr)
    steps = ["Cockcroft–Gault: CrCl(mL/min) = (140 − 나이) × 체중(kg) ÷ (72 × 혈청 크레아티닌(mg/dL)), "
             "여성은 × 0.85",
             f"분자 = (140 − {age}) × {num(w)} = {140 - age} × {num(w)} = {num((140 - age) * w)}",
             f"분모 = 72 × {num(scr)} = {num(72 * scr)}",
             f"분자 ÷ 분모 = {base:.4f} mL/min"]
    raw = base
    if p["sex"] == "female":
        raw = base * 0.85
        steps.append(f"여성이므로 × 0.85 → {raw:.4f} mL/min")
    answer = round_half_up(raw, 1)
    steps.append(f"소수점 첫째 자리까지 반올림하면 {fixed(answer, 1)} mL/min")
    return Solution(answer, "mL/min", 1, tuple(steps))


_ASK = "Cockcroft–Gault 공식으로 크레아티닌 청소율(mL/min)을 구하시오. (소수점 첫째 자리까지 반올림)"


def _t1(p):
    return (f"{p['age']}세 {SEX_KR[p['sex']]} 환자, 체중 {num(p['weight_kg'])}kg, 혈청 크레아티닌 "
            f"{num(p['scr_mg_dl'])} mg/dL이다. {_ASK}")


def _t2(p):
    return (f"신기능에 따라 약물 용량을 조절하려고 크레아티닌 청소율을 추정한다. 환자 정보: "
            f"{SEX_KR[p['sex']]}, {p['age']}세, 체중 {num(p['weight_kg'])} kg, 혈청 크레아티닌 "
            f"{num(p['scr_mg_dl'])} mg/dL. Cockcroft-Gault 식으로 계산하면 몇 mL/min인가? "
            f"(소수점 첫째 자리까지 반올림)")


def _t3(p):
    return (f"입원 환자 검사 결과: {SEX_KR[p['sex']]}, {p['age']}세, 키 {p['height_cm']}cm, 체중 "
            f"{num(p['weight_kg'])}kg, BUN {p['bun_mg_dl']} mg/dL, 혈청 크레아티닌 {num(p['scr_mg_dl'])} "
            f"mg/dL. {_ASK}")


def _t4(p):
    return (f"크레아티닌 청소율(mL/min)은 (140 − 나이) × 체중 ÷ (72 × 혈청 크레아티닌)으로 추정하며 "
            f"여성은 결과에 0.85를 곱한다. 혈청 크레아티닌 {num(p['scr_mg_dl'])} mg/dL, 체중 "
            f"{num(p['weight_kg'])}kg, 나이 {p['age']}세인 {SEX_KR[p['sex']]}의 값을 소수점 첫째 자리까지 "
            f"반올림하여 구하라.")


def _t5(p):
    return (f"{p['name']} 씨는 {p['age']}세 {josa(SEX_KR[p['sex']], '로/으로')} 체중은 {num(p['weight_kg'])}kg이다. 최근 "
            f"검사에서 혈청 크레아티닌이 {num(p['scr_mg_dl'])} mg/dL(1개월 전 "
            f"{num(p['prev_scr_mg_dl'])} mg/dL)로 나왔다. 최근 값을 기준으로 {_ASK}")


TASK = Task("healthcare", "creatinine_clearance", sample, solve, templates(
    "healthcare.creatinine_clearance",
    ("train", _t1), ("train", _t2), ("train", _t3), ("test", _t4), ("test", _t5)))
