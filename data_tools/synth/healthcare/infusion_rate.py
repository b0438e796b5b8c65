"""수액 주입 속도: 펌프 설정값(mL/h) or 중력 점적 속도(gtt/min) with a set's drop factor.

mL/h = volume ÷ hours; gtt/min = volume × drop factor ÷ minutes, rounded to whole drops as counted
at the bedside. Drop rates are kept at 25 gtt/min or more and graded with a 2% tolerance, since
rounding a whole drop can move a small rate by up to 2%.
"""

from __future__ import annotations

from ..core import Solution, Task, fixed, num, round_half_up, templates

FLUIDS = ("생리식염수(0.9% NaCl)", "5% 포도당 수액", "하트만 용액", "항생제 희석 수액")
VOLUMES = (100, 250, 500, 1_000)
DROP_FACTORS = (10, 15, 20, 60)


def sample(rng) -> dict:
    while True:
        p = {"volume_ml": rng.choice(VOLUMES), "minutes": rng.randint(1, 24) * 30,
             "drop_factor": rng.choice(DROP_FACTORS), "ask": rng.choice(("ml_per_h", "gtt_per_min"))}
        gtt = p["volume_ml"] * p["drop_factor"] / p["minutes"]
        ml_h = p["volume_ml"] * 60 / p["minutes"]
        if 25 <= gtt <= 250 and 10 <= ml_h <= 500:  # rates a nurse would actually set
            break
    p.update(fluid=rng.choice(FLUIDS), age=rng.randint(18, 90), weight_kg=rng.randint(40, 95),
             start_hour=rng.randint(6, 20))
    return p


def duration_kr(minutes: int) -> str:
    hours, rest = divmod(minutes, 60)
    if hours and rest:
        return f"{hours}시간 {rest}분"
    return f"{hours}시간" if hours else f"{rest}분"


def solve(p: dict) -> Solution:
    v, t, df = p["volume_ml"], p["minutes"], p["drop_factor"]
    if p["ask"] == "ml_per_h":
        raw = v / (t / 60)
        answer = round_half_up(raw, 1)
        steps = ("주입 속도(mL/h) = 총 용량(mL) ÷ 주입 시간(h)",
                 f"주입 시간 = {duration_kr(t)}" + (f" = {num(t / 60)}시간" if t % 60 else ""),
                 f"= {num(v)} mL ÷ {num(t / 60)} h = {raw:.4f} mL/h",
                 f"소수점 첫째 자리까지 반올림하면 {fixed(answer, 1)} mL/h")
        return Solution(answer, "mL/h", 1, steps)
    raw = v * df / t
    answer = round_half_up(raw)
    steps = ("분당 방울 수(gtt/min) = 총 용량(mL) × 점적 계수(gtt/mL) ÷ 주입 시간(분)",
             f"주입 시간 = {duration_kr(t)} = {t}분",
             f"= {num(v)} mL × {df} gtt/mL ÷ {t}분 = {raw:.4f} gtt/min",
             f"방울은 정수로 세므로 반올림하면 {fixed(answer, 0)} gtt/min")
    return Solution(answer, "gtt/min", 0, steps, tolerance=0.02)


def _question(p, drop_factor_stated=False):
    if p["ask"] == "ml_per_h":
        return "수액 펌프의 주입 속도는 몇 mL/h로 설정해야 하는가? (소수점 첫째 자리까지 반올림)"
    if drop_factor_stated:
        return "분당 방울 수(gtt/min)는 얼마인가? (정수로 반올림)"
    return (f"점적 계수가 {p['drop_factor']} gtt/mL인 수액 세트를 사용할 때 분당 방울 수(gtt/min)는 "
            f"얼마인가? (정수로 반올림)")


def _t1(p):
    return (f"{p['fluid']} {num(p['volume_ml'])} mL를 {duration_kr(p['minutes'])} 동안 주입하라는 처방이 "
            f"있다. {_question(p)}")


def _t2(p):
    return (f"처방: {p['fluid']} {num(p['volume_ml'])} mL 정맥 주입, {duration_kr(p['minutes'])}에 걸쳐 "
            f"투여. {_question(p)}")


def _t3(p):
    # The drop factor appears even when the question asks for mL/h: a distractor there.
    return (f"{p['age']}세 환자, 체중 {p['weight_kg']}kg. {p['fluid']} {num(p['volume_ml'])} mL를 "
            f"{duration_kr(p['minutes'])} 동안 정맥 주입할 예정이며, 병동의 수액 세트는 점적 계수가 "
            f"{p['drop_factor']} gtt/mL이다. {_question(p, drop_factor_stated=True)}")


def _t4(p):
    return (f"{_question(p)} (수액: {p['fluid']}, 총량 {num(p['volume_ml'])} mL, 주입 시간 "
            f"{duration_kr(p['minutes'])})")


def _t5(p):
    return (f"{p['start_hour']}시 정각에 {p['fluid']} {num(p['volume_ml'])} mL 주입을 시작해 "
            f"{duration_kr(p['minutes'])} 뒤에 끝내려고 한다. 환자의 체중은 {p['weight_kg']}kg이다. "
            f"{_question(p)}")


TASK = Task("healthcare", "infusion_rate", sample, solve, templates(
    "healthcare.infusion_rate",
    ("train", _t1), ("train", _t2), ("train", _t3), ("test", _t4), ("test", _t5)))
