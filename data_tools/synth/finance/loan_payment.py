"""원리금균등분할상환 대출: 월 상환액 또는 대출 기간 전체의 이자 총액 (원 미만 반올림).

The annuity formula M = P·i·(1+i)^n / ((1+i)^n − 1) with i = annual rate / 12. Total interest is
computed from the unrounded payment (M·n − P), then rounded, so it does not drift by n half-wons.
"""

from __future__ import annotations

from ..core import Solution, Task, eul, fixed, num, round_half_up, templates, won

NAMES = ("김민준", "이서연", "박지훈", "최수아", "정도윤", "강하은", "윤재현")
PURPOSES = ("주택 구입", "전세 보증금 마련", "사업 운영 자금", "자동차 구입", "대학원 등록금")
YEARS = (1, 2, 3, 4, 5, 7, 10, 15, 20, 25, 30)


def sample(rng) -> dict:
    return {
        "principal": rng.randint(10, 500) * 1_000_000,
        "rate_pct": rng.randint(25, 80) / 10,  # 2.5% .. 8.0% a year, fixed
        "months": 12 * rng.choice(YEARS),
        "ask": rng.choice(("payment", "total_interest")),
        "name": rng.choice(NAMES), "purpose": rng.choice(PURPOSES),
        "prepay_fee_pct": rng.randint(5, 15) / 10, "credit_score": rng.randint(650, 980),
    }


def solve(p: dict) -> Solution:
    P, r, n = p["principal"], p["rate_pct"], p["months"]
    i = r / 100 / 12
    g = (1 + i) ** n
    m = P * i * g / (g - 1)
    steps = ["원리금균등 월 상환액 M = P × i × (1 + i)^n ÷ ((1 + i)^n − 1)",
             f"월 이율 i = {num(r)}% ÷ 12 = {i:.8f}, 상환 횟수 n = {n}개월",
             f"(1 + i)^n = {g:.8f}",
             f"M = {won(P)} × {i:.8f} × {g:.8f} ÷ {g - 1:.8f} = {fixed(m, 2)}원"]
    value = m
    if p["ask"] == "total_interest":
        total = m * n
        value = total - P
        steps += [f"총 상환액 = {fixed(m, 2)}원 × {n} = {fixed(total, 2)}원",
                  f"이자 총액 = {fixed(total, 2)}원 − {won(P)} = {fixed(value, 2)}원"]
    answer = round_half_up(value)
    steps.append(f"원 미만을 반올림하면 {won(answer)}")
    return Solution(answer, "원", 0, tuple(steps))


def _question(p):
    if p["ask"] == "payment":
        return "매월 상환해야 하는 금액은 얼마인가? (원 미만 반올림)"
    return "대출 기간 동안 내는 이자 총액은 얼마인가? (원 미만 반올림)"


def _asked(p):
    return "월 상환액" if p["ask"] == "payment" else "총 이자"


def _t1(p):
    return (f"{won(p['principal'])}을 연 {num(p['rate_pct'])}%, {p['months'] // 12}년 만기 "
            f"원리금균등분할상환 조건으로 대출받았다. {_question(p)}")


def _t2(p):
    return (f"{p['name']} 씨가 {p['purpose']} 목적으로 은행에서 {won(p['principal'])}을 빌렸다. 금리는 연 "
            f"{num(p['rate_pct'])}%(고정), 상환 기간은 {p['months']}개월이며 매월 같은 금액을 갚는 "
            f"원리금균등 방식이다. {_question(p)}")


def _t3(p):
    return (f"대출 상품 설명서 — 대출금: {won(p['principal'])} / 금리: 연 {num(p['rate_pct'])}% 고정 / "
            f"기간: {p['months'] // 12}년 / 상환 방식: 원리금균등분할 / 중도상환수수료: "
            f"{num(p['prepay_fee_pct'])}% / 신청자 신용점수: {p['credit_score']}점. {_question(p)}")


def _t4(p):
    return (f"원리금균등분할상환에서는 매달 같은 금액을 낸다. 대출 원금이 {won(p['principal'])}, 연이율이 "
            f"{num(p['rate_pct'])}%, 대출 기간이 {p['months'] // 12}년이라면 {_question(p)}")


def _t5(p):
    return (f"{eul(_asked(p))} 구하시오. (대출 {won(p['principal'])}, 연 {num(p['rate_pct'])}%를 12로 나눈 "
            f"월 이율 적용, {p['months']}개월 원리금균등상환, 거치기간 없음, 원 미만 반올림)")


TASK = Task("finance", "loan_payment", sample, solve, templates(
    "finance.loan_payment",
    ("train", _t1), ("train", _t2), ("train", _t3), ("test", _t4), ("test", _t5)))
