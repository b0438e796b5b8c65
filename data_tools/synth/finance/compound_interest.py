"""복리 예금: 월복리 또는 연복리로 만기 수령액이나 이자를 구한다 (세전, 원 미만 반올림).

Monthly compounding applies rate/12 twelve times a year; annual compounding applies the rate once.
Factors are shown to 8 decimals so a reader can re-multiply a 100-million-won principal and land
within a won of the stated intermediate value.
"""

from __future__ import annotations

from ..core import Solution, Task, eul, eun, fixed, num, round_half_up, templates, won

NAMES = ("김민준", "이서연", "박지훈", "최수아", "정도윤", "강하은", "윤재현")
BANKS = ("한결은행", "새봄저축은행", "바른은행", "누리은행")
PURPOSES = ("주택 자금 마련", "노후 대비", "자녀 학자금 준비", "여유 자금 운용")
COMPOUNDING_KR = {"monthly": "월복리", "annual": "연복리"}
ASKED_KR = {"amount": "만기 수령액", "interest": "이자 수익"}


def sample(rng) -> dict:
    return {
        "principal": rng.randint(10, 1_000) * 100_000,
        "rate_pct": rng.randint(15, 70) / 10,  # 1.5% .. 7.0% a year
        "years": rng.randint(1, 10),
        "compounding": rng.choice(("monthly", "annual")),
        "ask": rng.choice(("amount", "interest")),
        "name": rng.choice(NAMES), "bank": rng.choice(BANKS), "purpose": rng.choice(PURPOSES),
        "early_rate_pct": rng.randint(1, 10) / 10, "inflation_pct": rng.randint(10, 40) / 10,
    }


def solve(p: dict) -> Solution:
    P, r, y = p["principal"], p["rate_pct"], p["years"]
    if p["compounding"] == "monthly":
        i, n = r / 100 / 12, 12 * y
        steps = ["월복리 만기 금액 = 원금 × (1 + 연이율/12)^(12 × 기간)",
                 f"월 이율 = {num(r)}% ÷ 12 = {i:.8f}",
                 f"복리 횟수 = 12 × {y} = {n}회"]
    else:
        i, n = r / 100, y
        steps = ["연복리 만기 금액 = 원금 × (1 + 연이율)^기간",
                 f"연이율 = {num(r)}% = {i:.8f}", f"복리 횟수 = {n}회"]
    factor = (1 + i) ** n
    amount = P * factor
    steps += [f"(1 + {i:.8f})^{n} = {factor:.8f}",
              f"만기 금액 = {won(P)} × {factor:.8f} = {fixed(amount, 2)}원"]
    value = amount
    if p["ask"] == "interest":
        value = amount - P
        steps.append(f"이자 = 만기 금액 − 원금 = {fixed(amount, 2)}원 − {won(P)} = {fixed(value, 2)}원")
    answer = round_half_up(value)
    steps.append(f"원 미만을 반올림하면 {won(answer)}")
    return Solution(answer, "원", 0, tuple(steps))


def _comp(p):
    return COMPOUNDING_KR[p["compounding"]]


def _asked(p):
    return ASKED_KR[p["ask"]]


def _t1(p):
    return (f"원금 {won(p['principal'])}을 연 {num(p['rate_pct'])}% 금리로 {p['years']}년간 {_comp(p)}로 "
            f"예치할 때 {eun(_asked(p))} 얼마인가? (세금은 고려하지 않으며, 원 미만은 반올림한다.)")


def _t2(p):
    return (f"{p['name']} 씨는 {p['purpose']} 목적으로 {won(p['principal'])}을 {_comp(p)} 상품에 넣었다. "
            f"연이율은 {num(p['rate_pct'])}%이고 기간은 {p['years']}년이다. {eul(_asked(p))} "
            f"구하시오. 세전 기준, 원 미만 반올림.")


def _t3(p):
    return (f"{p['bank']} 정기예금 안내: 가입 금액 {won(p['principal'])}, 연 {num(p['rate_pct'])}%, "
            f"{p['years']}년 만기, 이자 계산 방식 {_comp(p)}. 중도해지 시에는 연 "
            f"{num(p['early_rate_pct'])}%가 적용된다. 만기까지 유지할 때 {eun(_asked(p))}? "
            f"(세금 제외, 원 미만 반올림)")


def _t4(p):
    return (f"{_comp(p)} 방식에서 {eul(_asked(p))} 계산하려 한다. 연 금리 {num(p['rate_pct'])}%, "
            f"기간 {p['years']}년, 원금 {won(p['principal'])}일 때 값은 얼마인가? 원 단위로 반올림하여 답하라.")


def _t5(p):
    how = "매월" if p["compounding"] == "monthly" else "매년 한 번"
    return (f"{p['years']}년 뒤를 위해 {p['name']} 씨가 {won(p['principal'])}을 예치했다. 금리는 연 "
            f"{num(p['rate_pct'])}%이며 이자는 {how} 원금에 더해져 복리로 불어난다. 같은 기간 물가상승률은 "
            f"연 {num(p['inflation_pct'])}%로 예상된다. 세금을 고려하지 않을 때 {eun(_asked(p))} 얼마인가? "
            f"(원 미만 반올림)")


TASK = Task("finance", "compound_interest", sample, solve, templates(
    "finance.compound_interest",
    ("train", _t1), ("train", _t2), ("train", _t3), ("test", _t4), ("test", _t5)))
