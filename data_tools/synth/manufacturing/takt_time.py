"""택트 타임, 하루 생산 가능 수량, 최소 작업장 수 from shifts, breaks and demand.

Takt time = available time / demand. Daily output under a bottleneck cycle time is rounded down
(a part half-made at shift end does not ship); the minimum number of stations is work content /
takt rounded up. Work content is drawn away from exact multiples of takt so the ceiling is stable.
"""

from __future__ import annotations

import math

from ..core import Solution, Task, fixed, num, round_half_up, templates

FACTORIES = ("평택 1공장", "창원 조립공장", "구미 전자공장", "울산 부품공장", "천안 2공장")


def sample(rng) -> dict:
    p = {"shifts": rng.randint(1, 3), "shift_min": rng.choice((480, 540, 600)),
         "break_min": rng.choice((30, 40, 50, 60, 70)), "demand": rng.randint(20, 300) * 10,
         "ask": rng.choice(("takt", "daily_output", "stations")),
         "factory": rng.choice(FACTORIES), "workers": rng.randint(5, 60),
         "days_per_month": rng.randint(20, 26), "line_age_years": rng.randint(2, 15)}
    available_s = p["shifts"] * (p["shift_min"] - p["break_min"]) * 60
    takt = available_s / p["demand"]
    p["cycle_s"] = round(takt * rng.uniform(0.5, 1.5), 1)
    while True:  # stations between 2 and 15, never sitting on an exact multiple of takt
        work = rng.randint(30, 1_800)
        ratio = work / takt
        if 2 <= ratio <= 15 and abs(ratio - round(ratio)) > 1e-6:
            p["work_content_s"] = work
            return p


def solve(p: dict) -> Solution:
    per_shift = p["shift_min"] - p["break_min"]
    available_s = p["shifts"] * per_shift * 60
    steps = [f"하루 가용 시간 = 교대 수 × (근무 시간 − 휴식 시간) = {p['shifts']} × "
             f"({p['shift_min']}분 − {p['break_min']}분) = {num(p['shifts'] * per_shift)}분 = {available_s:,}초"]
    if p["ask"] == "daily_output":
        raw = available_s / p["cycle_s"]
        answer = float(math.floor(raw + 1e-9))  # 1e-9: 86,400 ÷ 25.6 must floor to 3,375, not 3,374
        steps += ["하루 생산 가능 수량 = 가용 시간 ÷ 사이클 타임",
                  f"= {available_s:,}초 ÷ {num(p['cycle_s'])}초 = {fixed(raw, 3)}개",
                  f"완성품만 세므로 소수점 이하를 버리면 {fixed(answer, 0)}개"]
        return Solution(answer, "개", 0, tuple(steps))
    takt = available_s / p["demand"]
    steps += ["택트 타임 = 가용 시간 ÷ 수요량",
              f"= {available_s:,}초 ÷ {num(p['demand'])}개 = {fixed(takt, 4)}초"]
    if p["ask"] == "takt":
        answer = round_half_up(takt, 1)
        steps.append(f"소수점 첫째 자리까지 반올림하면 {fixed(answer, 1)}초")
        return Solution(answer, "초", 1, tuple(steps))
    ratio = p["work_content_s"] / takt
    answer = float(math.ceil(ratio))
    steps += ["최소 작업장 수 = 총 작업 시간 ÷ 택트 타임 (올림)",
              f"= {num(p['work_content_s'])}초 ÷ {fixed(takt, 4)}초 = {fixed(ratio, 4)}",
              f"작업장은 정수 개이므로 올림하면 {fixed(answer, 0)}개"]
    return Solution(answer, "개", 0, tuple(steps))


def _question(p):
    if p["ask"] == "takt":
        return "택트 타임은 몇 초인가? (소수점 첫째 자리까지 반올림)"
    if p["ask"] == "daily_output":
        return (f"병목 공정의 사이클 타임이 {num(p['cycle_s'])}초일 때 하루 최대 생산 가능 수량은 몇 개인가? "
                f"(완성품 기준, 소수점 이하 버림)")
    return (f"제품 1개를 만드는 데 필요한 총 작업 시간이 {num(p['work_content_s'])}초라면, 택트 타임을 "
            f"맞추기 위해 필요한 최소 작업장 수는 몇 개인가? (올림)")


def _t1(p):
    return (f"{p['factory']}은 하루 {p['shifts']}교대로 운영되며 교대당 {p['shift_min']}분 근무하고 교대마다 "
            f"휴식 {p['break_min']}분이 있다. 하루 수요는 {num(p['demand'])}개이다. {_question(p)}")


def _t2(p):
    return (f"생산계획 자료 — 교대 수: {p['shifts']}, 교대당 근무: {p['shift_min']}분, 교대당 휴식: "
            f"{p['break_min']}분, 일일 주문량: {num(p['demand'])}개. {_question(p)}")


def _t3(p):
    return (f"{p['factory']} 조립 라인에는 작업자 {p['workers']}명이 있고 한 달에 {p['days_per_month']}일 "
            f"가동한다. 하루 {p['shifts']}교대, 교대당 근무 {p['shift_min']}분(휴식 {p['break_min']}분 포함)이며 "
            f"하루 필요 생산량은 {num(p['demand'])}개이다. {_question(p)}")


def _t4(p):
    return (f"{_question(p)} 하루 가용 시간은 교대당 {p['shift_min']}분에서 휴식 {p['break_min']}분을 뺀 "
            f"시간에 교대 수를 곱한 값이다. 교대 수는 {p['shifts']}이고, 일일 필요 생산량은 {num(p['demand'])}개이다.")


def _t5(p):
    return (f"고객사가 하루 {num(p['demand'])}개 납품을 요청했다. 공장은 {p['shifts']}개 조가 각각 "
            f"{p['shift_min']}분씩 일하고, 조마다 식사와 휴식에 {p['break_min']}분을 쓴다. 라인 설비는 "
            f"{p['line_age_years']}년 전에 도입되었다. {_question(p)}")


TASK = Task("manufacturing", "takt_time", sample, solve, templates(
    "manufacturing.takt_time",
    ("train", _t1), ("train", _t2), ("train", _t3), ("test", _t4), ("test", _t5)))
