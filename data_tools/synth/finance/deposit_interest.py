"""단리 정기예금: 세전 이자, 세후 이자, 세후 만기 수령액 (원 미만 반올림).

Interest on Korean deposits is taxed at source at 15.4% (이자소득세 14% + 지방소득세 1.4%).
Banks truncate the tax to 10 won; these problems state a simpler rule (round the result to the
won) so the answer is fixed by the question alone.
"""

from __future__ import annotations

from ..core import Solution, Task, eul, fixed, num, round_half_up, templates, won

TAX_RATE_PCT = 15.4
NAMES = ("김민준", "이서연", "박지훈", "최수아", "정도윤", "강하은", "윤재현")
BANKS = ("한결은행", "새봄저축은행", "바른은행", "누리은행")
MONTHS = (3, 6, 9, 12, 18, 24, 36)
ASKED_KR = {"pre_tax": "세전 이자",
            "after_tax": "세후 이자(이자소득세 등 15.4% 원천징수 후)",
            "maturity": "세후 만기 수령액(원금 + 15.4%를 원천징수한 뒤의 이자)"}


def sample(rng) -> dict:
    return {
        "principal": rng.randint(10, 2_000) * 100_000,
        "rate_pct": rng.randint(40, 120) / 20,  # 2.0% .. 6.0% in 0.05% steps
        "months": rng.choice(MONTHS),
        "ask": rng.choice(("pre_tax", "after_tax", "maturity")),
        "tax_rate_pct": TAX_RATE_PCT,
        "name": rng.choice(NAMES), "bank": rng.choice(BANKS),
        "bonus_rate_pct": rng.randint(1, 6) / 10, "base_rate_pct": rng.randint(200, 350) / 100,
    }


def solve(p: dict) -> Solution:
    P, r, m, tax = p["principal"], p["rate_pct"], p["months"], p["tax_rate_pct"]
    interest = P * r / 100 * m / 12
    steps = ["단리 이자 = 원금 × 연이율 × (예치 개월 수 ÷ 12)",
             f"세전 이자 = {won(P)} × {num(r)}% × {m}/12 = {fixed(interest, 2)}원"]
    value = interest
    if p["ask"] in ("after_tax", "maturity"):
        withheld = interest * tax / 100
        value = interest - withheld
        steps += [f"원천징수 세액 = {fixed(interest, 2)}원 × {num(tax)}% = {fixed(withheld, 2)}원",
                  f"세후 이자 = {fixed(interest, 2)}원 − {fixed(withheld, 2)}원 = {fixed(value, 2)}원"]
    if p["ask"] == "maturity":
        steps.append(f"세후 만기 수령액 = 원금 + 세후 이자 = {won(P)} + {fixed(value, 2)}원 = "
                     f"{fixed(P + value, 2)}원")
        value = P + value
    answer = round_half_up(value)
    steps.append(f"원 미만을 반올림하면 {won(answer)}")
    return Solution(answer, "원", 0, tuple(steps))


def _question(p):
    return {"pre_tax": "세전 이자는 얼마인가? (원 미만 반올림)",
            "after_tax": "이자소득세 등 15.4%를 원천징수한 세후 이자는 얼마인가? (원 미만 반올림)",
            "maturity": "이자소득세 등 15.4%를 뗀 뒤 만기에 받는 총 금액(원금 + 세후 이자)은 얼마인가? "
                        "(원 미만 반올림)"}[p["ask"]]


def _t1(p):
    return (f"{won(p['principal'])}을 연 {num(p['rate_pct'])}% 단리 정기예금에 {p['months']}개월간 "
            f"예치했다. {_question(p)}")


def _t2(p):
    return (f"{p['name']} 씨는 {p['bank']}의 {p['months']}개월 만기 정기예금(단리, 연 "
            f"{num(p['rate_pct'])}%)에 {won(p['principal'])}을 가입했다. {_question(p)}")


def _t3(p):
    return (f"{p['bank']} 예금 안내문: 기본금리 연 {num(p['rate_pct'])}%(단리), 가입기간 {p['months']}개월, "
            f"가입금액 {won(p['principal'])}. 급여이체 시 주는 우대금리 연 {num(p['bonus_rate_pct'])}%p는 "
            f"이번 가입에 해당하지 않는다. {_question(p)}")


def _t4(p):
    return (f"단리 예금의 {eul(ASKED_KR[p['ask']])} 계산하라. 원금 {won(p['principal'])}, 연이율 "
            f"{num(p['rate_pct'])}%, 예치 기간 {p['months']}개월이며 원 미만은 반올림한다.")


def _t5(p):
    return (f"{p['months']}개월 뒤 만기가 되는 예금이 있다. 연 {num(p['rate_pct'])}% 단리로 "
            f"{won(p['principal'])}을 넣어 두었고, 가입 당시 한국은행 기준금리는 "
            f"{num(p['base_rate_pct'])}%였다. {_question(p)}")


TASK = Task("finance", "deposit_interest", sample, solve, templates(
    "finance.deposit_interest",
    ("train", _t1), ("train", _t2), ("train", _t3), ("test", _t4), ("test", _t5)))
