"""설비종합효율 OEE = 시간가동률 × 성능가동률 × 양품률, in % to one decimal.

Availability = run time / planned time, performance = ideal cycle time × count / run time,
quality = good / count. Counts are drawn so performance stays at 70–98% and quality at 90–99.5%,
as on a real line (a performance above 100% would mean the ideal cycle time is wrong).
"""

from __future__ import annotations

from ..core import Solution, Task, eun, fixed, num, round_half_up, templates

LINES = ("프레스 2호기", "CNC 선반 3호기", "사출기 5호기", "도장 라인", "조립 1라인", "용접 로봇 셀")


def sample(rng) -> dict:
    shift, brk = rng.choice((480, 540, 600)), rng.choice((30, 40, 50, 60))
    planned = shift - brk
    down = rng.randint(10, 90)
    cycle = rng.randint(20, 120) / 2  # 10.0 .. 60.0 s ideal cycle time
    total = int(rng.uniform(0.70, 0.98) * (planned - down) * 60 / cycle)
    good = round(total * rng.uniform(0.90, 0.995))
    return {
        "shift_min": shift, "break_min": brk, "planned_min": planned, "downtime_min": down,
        "ideal_cycle_s": cycle, "total_count": total, "good_count": good,
        "line": rng.choice(LINES), "workers": rng.randint(2, 8), "power_kwh": rng.randint(80, 900),
    }


def solve(p: dict) -> Solution:
    planned, down, cycle = p["planned_min"], p["downtime_min"], p["ideal_cycle_s"]
    total, good = p["total_count"], p["good_count"]
    run = planned - down
    a = run / planned
    perf = cycle * total / (run * 60)
    q = good / total
    oee = a * perf * q * 100
    answer = round_half_up(oee, 1)
    steps = ("OEE = 시간가동률 × 성능가동률 × 양품률",
             f"실가동 시간 = {planned}분 − 정지 {down}분 = {run}분 = {run * 60:,}초",
             f"시간가동률 = {run} ÷ {planned} = {a:.6f}",
             f"성능가동률 = {num(cycle)}초 × {num(total)}개 ÷ {run * 60:,}초 = {perf:.6f}",
             f"양품률 = {num(good)} ÷ {num(total)} = {q:.6f}",
             f"OEE = {a:.6f} × {perf:.6f} × {q:.6f} × 100 = {oee:.4f}%",
             f"소수점 첫째 자리까지 반올림하면 {fixed(answer, 1)}%")
    return Solution(answer, "%", 1, steps)


def _t1(p):
    return (f"{p['line']}의 하루 계획 가동 시간은 {p['planned_min']}분이고, 설비 고장과 셋업으로 "
            f"{p['downtime_min']}분 동안 정지했다. 이상적 사이클 타임은 {num(p['ideal_cycle_s'])}초, 총 "
            f"생산량은 {num(p['total_count'])}개, 그중 양품은 {num(p['good_count'])}개이다. 설비종합효율(OEE)은 "
            f"몇 %인가? (소수점 첫째 자리까지 반올림)")


def _t2(p):
    return (f"OEE 계산: 근무 시간 {p['shift_min']}분 중 계획된 휴식 {p['break_min']}분, 비계획 정지 "
            f"{p['downtime_min']}분, 이론 사이클 타임 {num(p['ideal_cycle_s'])}초/개, 생산 수량 "
            f"{num(p['total_count'])}개, 불량 {num(p['total_count'] - p['good_count'])}개. OEE(%)를 소수점 "
            f"첫째 자리까지 반올림하여 구하시오.")


def _t3(p):
    return (f"{eun(p['line'])} 작업자 {p['workers']}명이 운영하며 이날 전력 {p['power_kwh']}kWh를 사용했다. "
            f"계획 생산 시간 {p['planned_min']}분 가운데 {p['downtime_min']}분은 고장으로 멈췄고, 이론 "
            f"사이클 타임 {num(p['ideal_cycle_s'])}초로 {num(p['total_count'])}개를 만들어 "
            f"{num(p['good_count'])}개가 양품이었다. OEE는 몇 %인가? (소수점 첫째 자리까지 반올림)")


def _t4(p):
    return (f"시간가동률, 성능가동률, 양품률을 각각 구한 뒤 곱하여 설비종합효율을 계산하라. 조건: 총 생산 "
            f"{num(p['total_count'])}개(양품 {num(p['good_count'])}개), 이상 사이클 타임 "
            f"{num(p['ideal_cycle_s'])}초, 정지 시간 {p['downtime_min']}분, 계획 생산 시간 "
            f"{p['planned_min']}분. 답은 % 단위로 소수점 첫째 자리까지 반올림.")


def _t5(p):
    return (f"{p['shift_min']}분 교대 근무에서 식사와 휴식으로 {p['break_min']}분이 계획되어 있다. 이날 "
            f"{eun(p['line'])} 금형 교체와 고장으로 {p['downtime_min']}분 멈췄고, "
            f"{num(p['total_count'])}개를 생산해 {num(p['total_count'] - p['good_count'])}개가 불량 판정을 "
            f"받았다. 이 설비의 이론 사이클 타임이 {num(p['ideal_cycle_s'])}초라면 OEE는 몇 %인가? "
            f"(소수점 첫째 자리까지 반올림)")


def _from_shift_and_defects(p):
    # t2 and t5 state the shift, the break and the defect count rather than planned time and good parts.
    return (f"계획 가동 시간 = 근무 {p['shift_min']}분 − 휴식 {p['break_min']}분 = {p['planned_min']}분\n"
            f"양품 수 = {num(p['total_count'])}개 − 불량 {num(p['total_count'] - p['good_count'])}개 = "
            f"{num(p['good_count'])}개")


TASK = Task("manufacturing", "oee", sample, solve, templates(
    "manufacturing.oee", ("train", _t1), ("train", _t2, _from_shift_and_defects), ("train", _t3),
    ("test", _t4), ("test", _t5, _from_shift_and_defects)))
