"""단위 환산 on drawings and spec sheets: inch↔mm, kgf↔N, psi↔MPa, °F↔°C.

Constants are the exact definitions: 1 inch = 25.4 mm, 1 kgf = 9.80665 N (standard gravity),
1 psi = 1 lbf/in² = 6,894.757293168 Pa. Input ranges and shown decimals are chosen together so the
rounding error stays under 0.5% of the answer.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from ..core import (Solution, Task, eun, fixed, i_ga, num, round_half_up, rounding_rule, templates,
                    with_unit)

PSI_IN_MPA = 6_894.757293168 / 1e6


@dataclass(frozen=True)
class Conversion:
    source: str
    target: str
    quantity: str  # picks the context phrases below
    decimals: int
    draw: Callable  # rng -> input value, in a range where that quantity is plausible
    formula: str  # shown in the reasoning
    apply: Callable[[float], float]
    worked: str  # the arithmetic with the input filled in, e.g. "{} × 25.4"


CONVERSIONS = {c.source + "->" + c.target: c for c in (
    Conversion("inch", "mm", "length", 2, lambda r: r.randint(1, 400) / 8,
               "1 inch = 25.4 mm이므로 mm = inch × 25.4", lambda v: v * 25.4, "{} × 25.4"),
    Conversion("mm", "inch", "length", 3, lambda r: r.randint(50, 20_000) / 10,
               "1 inch = 25.4 mm이므로 inch = mm ÷ 25.4", lambda v: v / 25.4, "{} ÷ 25.4"),
    Conversion("kgf", "N", "force", 1, lambda r: r.randint(10, 50_000) / 10,
               "1 kgf = 9.80665 N이므로 N = kgf × 9.80665", lambda v: v * 9.80665, "{} × 9.80665"),
    Conversion("N", "kgf", "force", 2, lambda r: r.randint(10, 100_000),
               "1 kgf = 9.80665 N이므로 kgf = N ÷ 9.80665", lambda v: v / 9.80665, "{} ÷ 9.80665"),
    Conversion("psi", "MPa", "pressure", 3, lambda r: r.randint(50, 10_000),
               "1 psi = 6,894.757 Pa = 0.006894757 MPa이므로 MPa = psi × 0.006894757",
               lambda v: v * PSI_IN_MPA, "{} × 0.006894757"),
    Conversion("MPa", "psi", "pressure", 1, lambda r: r.randint(5, 4_000) / 10,
               "1 psi = 0.006894757 MPa이므로 psi = MPa ÷ 0.006894757", lambda v: v / PSI_IN_MPA,
               "{} ÷ 0.006894757"),
    Conversion("°F", "°C", "temperature", 1, lambda r: r.randint(200, 1_800) / 2,
               "°C = (°F − 32) × 5/9", lambda v: (v - 32) * 5 / 9, "({} − 32) × 5/9"),
    Conversion("°C", "°F", "temperature", 1, lambda r: r.randint(20, 500),
               "°F = °C × 9/5 + 32", lambda v: v * 9 / 5 + 32, "{} × 9/5 + 32"),
)}

CONTEXTS = {
    "length": ("파이프 외경", "판재 폭", "가공물 전체 길이", "컨베이어 벨트 폭"),
    "force": ("프레스 가압력", "볼트 체결 하중", "인장 시험 최대 하중"),
    "pressure": ("유압 실린더 작동 압력", "배관 설계 압력", "고압 호스 최대 사용 압력"),
    "temperature": ("열처리로 설정 온도", "사출 성형 온도", "건조 오븐 온도"),
}
# How each unit is read aloud decides the particle after it, so write the "(으)로" form out.
TO_UNIT = {"mm": "mm로", "inch": "인치(inch)로", "N": "N(뉴턴)으로", "kgf": "kgf로", "MPa": "MPa로",
           "psi": "psi로", "°C": "섭씨온도(°C)로", "°F": "화씨온도(°F)로"}


def sample(rng) -> dict:
    key = rng.choice(sorted(CONVERSIONS))
    conv = CONVERSIONS[key]
    return {"conversion": key, "value": conv.draw(rng), "from_unit": conv.source,
            "to_unit": conv.target, "context": rng.choice(CONTEXTS[conv.quantity]),
            "hour": rng.randint(8, 18), "inspector": rng.randint(1, 12)}


def solve(p: dict) -> Solution:
    conv = CONVERSIONS[p["conversion"]]
    raw = conv.apply(p["value"])
    answer = round_half_up(raw, conv.decimals)
    unrounded = fixed(raw, conv.decimals + 3)
    steps = (f"환산 관계: {conv.formula}",
             f"{conv.worked.format(num(p['value']))} = {with_unit(unrounded, conv.target)}",
             f"{rounding_rule(conv.decimals)}하면 {with_unit(fixed(answer, conv.decimals), conv.target)}")
    return Solution(answer, conv.target, conv.decimals, steps)


def _given(p):
    return with_unit(num(p["value"]), p["from_unit"])


def _rule(p):
    return rounding_rule(CONVERSIONS[p["conversion"]].decimals)


def _t1(p):
    return (f"{eun(p['context'])} {_given(p)}이다. 이를 {TO_UNIT[p['to_unit']]} 환산하면 얼마인가? "
            f"({_rule(p)})")


def _t2(p):
    return f"단위 환산 문제: {_given(p)} = ? {p['to_unit']} ({p['context']} 값이며, {_rule(p)})"


def _t3(p):
    return (f"{p['context']} 측정값: {_given(p)}. 측정 시각은 {p['hour']}시, 측정자는 "
            f"{p['inspector']}번 검사원이다. 이 값을 {TO_UNIT[p['to_unit']]} 나타내시오({_rule(p)}).")


def _t4(p):
    return (f"답은 {p['to_unit']} 단위로, {_rule(p)}하여 쓰시오. {i_ga(p['context'])} {_given(p)}일 때 "
            f"환산값은 얼마인가?")


def _t5(p):
    return (f"수출용 제품 사양서를 정리하고 있다. {p['context']} 항목에 적힌 값은 {_given(p)}인데, 고객은 "
            f"{p['to_unit']} 단위를 요구한다. 환산값을 {_rule(p)}하여 쓰시오.")


TASK = Task("manufacturing", "unit_conversion", sample, solve, templates(
    "manufacturing.unit_conversion",
    ("train", _t1), ("train", _t2), ("train", _t3), ("test", _t4), ("test", _t5)))
