"""불량률(%), 불량률(ppm), 양품률(%) from an inspection count and a defect count.

Ranges keep the rounding error inside the 1% grading tolerance: percentages are at least 1% with
two decimals, and ppm values are at least 100 when rounded to an integer.
"""

from __future__ import annotations

from ..core import Solution, Task, eun, fixed, num, round_half_up, templates

LINES = ("프레스 2라인", "사출 성형 1라인", "SMT 실장 라인", "도장 공정", "조립 3라인", "용접 셀")
SHIFTS = ("주간 근무", "야간 근무", "특근", "1교대 근무")


def sample(rng) -> dict:
    ask = rng.choice(("percent", "ppm", "yield"))
    if ask == "ppm":
        inspected = rng.randint(10_000, 500_000)
        defects = max(1, round(inspected * rng.uniform(100, 5_000) / 1e6))
    else:
        inspected = rng.randint(500, 50_000)
        defects = max(1, round(inspected * rng.uniform(0.01, 0.08)))
        if defects * 100 < inspected:  # keep the rate at >= 1% after rounding the count
            defects += 1
    visual = rng.randint(0, defects)
    return {
        "inspected": inspected, "defects": defects, "ask": ask,
        "defects_visual": visual, "defects_dimension": defects - visual,
        "line": rng.choice(LINES), "shift": rng.choice(SHIFTS), "month": rng.randint(1, 12),
        "inspectors": rng.randint(2, 9), "seconds_per_unit": rng.randint(3, 40),
    }


def solve(p: dict) -> Solution:
    n, d = p["inspected"], p["defects"]
    if p["ask"] == "ppm":
        raw = d / n * 1e6
        answer = round_half_up(raw)
        steps = ("ppm = 불량 수 ÷ 검사 수 × 1,000,000",
                 f"= {num(d)} ÷ {num(n)} × 1,000,000 = {fixed(raw, 3)}",
                 f"정수로 반올림하면 {fixed(answer, 0)} ppm")
        return Solution(answer, "ppm", 0, steps)
    if p["ask"] == "percent":
        raw = d / n * 100
        steps = ["불량률(%) = 불량 수 ÷ 검사 수 × 100",
                 f"= {num(d)} ÷ {num(n)} × 100 = {fixed(raw, 5)}%"]
    else:
        raw = (n - d) / n * 100
        steps = ["양품률(%) = (검사 수 − 불량 수) ÷ 검사 수 × 100",
                 f"양품 수 = {num(n)} − {num(d)} = {num(n - d)}",
                 f"= {num(n - d)} ÷ {num(n)} × 100 = {fixed(raw, 5)}%"]
    answer = round_half_up(raw, 2)
    steps.append(f"소수점 둘째 자리까지 반올림하면 {fixed(answer, 2)}%")
    return Solution(answer, "%", 2, tuple(steps))


def _question(p):
    return {"percent": "불량률(%)은 얼마인가? 소수점 둘째 자리까지 반올림하시오.",
            "ppm": "불량률을 ppm으로 나타내면 얼마인가? (정수로 반올림)",
            "yield": "양품률(%)은 얼마인가? 소수점 둘째 자리까지 반올림하시오."}[p["ask"]]


def _t1(p):
    return (f"{p['line']}에서 제품 {num(p['inspected'])}개를 검사한 결과 불량품이 {num(p['defects'])}개 "
            f"나왔다. {_question(p)}")


def _t2(p):
    return (f"품질관리 보고서: 검사 수량 {num(p['inspected'])}개, 불량 수량 {num(p['defects'])}개, "
            f"검사원 {p['inspectors']}명. {_question(p)}")


def _t3(p):
    return (f"{num(p['defects'])}개의 불량이 확인되었다. 이는 {p['shift']} 동안 생산되어 전수 검사된 "
            f"{num(p['inspected'])}개 중에서 나온 것이다. {_question(p)}")


def _t4(p):
    return (f"{p['month']}월 한 달간 {p['line']}의 출하 검사 실적은 다음과 같다. 총 "
            f"{num(p['inspected'])}개를 검사했고, 외관 불량 {num(p['defects_visual'])}개와 치수 불량 "
            f"{num(p['defects_dimension'])}개가 발견되었다(한 제품에 두 불량이 겹친 경우는 없다). "
            f"{_question(p)}")


def _t5(p):
    return (f"고객사가 요구하는 품질 수준을 충족하는지 확인하려 한다. {eun(p['line'])} 샘플 "
            f"{num(p['inspected'])}개 중 {num(p['defects'])}개가 규격을 벗어났고, 평균 검사 시간은 개당 "
            f"{p['seconds_per_unit']}초였다. {_question(p)}")


def _sum_defects(p):
    return (f"불량 수 = 외관 불량 {num(p['defects_visual'])}개 + 치수 불량 {num(p['defects_dimension'])}개 "
            f"= {num(p['defects'])}개")


TASK = Task("manufacturing", "defect_rate", sample, solve, templates(
    "manufacturing.defect_rate",
    ("train", _t1), ("train", _t2), ("train", _t3), ("test", _t4, _sum_defects), ("test", _t5)))
