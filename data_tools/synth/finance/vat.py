"""부가가치세(VAT 10%): 공급가액 -> 세액, 공급가액 -> 합계, 합계 -> 공급가액.

Korean VAT is 10% of the supply value (공급가액). Supply values are sampled as multiples of 10 won
so the forward directions are exact; the reverse direction divides the VAT-inclusive total by 1.1
and rounds to the won, which the question states.
"""

from __future__ import annotations

from ..core import Solution, Task, eun, eul, fixed, round_half_up, templates, won

RATE = 0.10
MODES = ("tax", "total", "supply")
COMPANIES = ("한빛전자", "세광테크", "미래소재", "동일기계", "서진물류", "누리푸드", "태양에너지")
ITEMS = ("사무용 의자", "산업용 공구 세트", "노트북", "알루미늄 판재", "설비 유지보수 용역",
         "광고 대행 용역", "소프트웨어 라이선스", "포장재", "전동 드릴", "LED 조명")


def sample(rng) -> dict:
    mode = rng.choice(MODES)
    # Amounts from ten thousand to about a hundred million won, in round units as on real invoices.
    amount = rng.randint(100, 9_999) * rng.choice((10, 100, 1_000, 10_000))
    p = {"mode": mode, "company": rng.choice(COMPANIES), "item": rng.choice(ITEMS),
         "pay_days": rng.choice((15, 30, 45, 60)), "deals": rng.randint(3, 40)}
    p["total" if mode == "supply" else "supply"] = amount
    return p


def solve(p: dict) -> Solution:
    if p["mode"] == "supply":
        raw = p["total"] / (1 + RATE)
        supply = round_half_up(raw)
        steps = ("부가가치세 포함 합계 = 공급가액 × (1 + 0.1) = 공급가액 × 1.1 이므로 공급가액 = 합계 ÷ 1.1",
                 f"공급가액 = {won(p['total'])} ÷ 1.1 = {fixed(raw, 2)}원",
                 f"원 미만을 반올림하면 {won(supply)}",
                 f"검산: 부가가치세 = {won(p['total'])} − {won(supply)} = {won(p['total'] - supply)}")
        return Solution(supply, "원", 0, steps)
    supply = p["supply"]
    tax = round_half_up(supply * RATE)
    steps = ["부가가치세 = 공급가액 × 10%", f"부가가치세 = {won(supply)} × 0.1 = {won(tax)}"]
    if p["mode"] == "tax":
        return Solution(tax, "원", 0, tuple(steps))
    total = supply + tax
    steps.append(f"합계 = 공급가액 + 부가가치세 = {won(supply)} + {won(tax)} = {won(total)}")
    return Solution(total, "원", 0, tuple(steps))


def _asked(p: dict) -> str:
    return {"tax": "부가가치세액", "total": "부가가치세를 포함한 합계 금액", "supply": "공급가액"}[p["mode"]]


def _given(p: dict) -> str:
    if p["mode"] == "supply":
        return f"부가가치세가 포함된 금액은 {won(p['total'])}"
    return f"공급가액은 {won(p['supply'])}"


def _t1(p):
    if p["mode"] == "supply":
        return (f"{eun(p['company'])} {p['item']} 납품 대금으로 부가가치세가 포함된 {won(p['total'])}을 "
                f"받았다. 부가가치세율이 10%일 때 공급가액은 얼마인가? 원 미만은 반올림하시오.")
    return (f"{eun(p['company'])} {p['item']} 납품 대금으로 공급가액 {won(p['supply'])}을 청구하려고 한다. "
            f"부가가치세율 10%를 적용할 때 {eun(_asked(p))} 얼마인가? 원 단위로 답하시오.")


def _t2(p):
    return (f"세금계산서 작성 문제입니다. 품목: {p['item']}, {_given(p)}입니다. "
            f"부가가치세 10%를 기준으로 {eul(_asked(p))} 구하세요(원 미만 반올림).")


def _t3(p):
    return (f"{p['company']} 영업팀은 {p['item']} 계약을 체결했다. 계약서상 {_given(p)}이고, "
            f"대금은 {p['pay_days']}일 후 지급받기로 했다. 이번 분기 누적 계약은 {p['deals']}건이다. "
            f"부가가치세율이 10%라면 {eun(_asked(p))} 얼마인가? (원 단위, 원 미만 반올림)")


def _t4(p):
    return (f"{eul(_asked(p))} 원 단위로 구하시오(원 미만 반올림). "
            f"조건: {_given(p)}, 부가가치세율 10%, 품목 {p['item']}.")


def _t5(p):
    return (f"{p['company']} 경리 담당자입니다. {p['item']} 매출 건의 {_given(p)}입니다. "
            f"거래처는 {p['pay_days']}일 뒤 결제하기로 했습니다. 세율 10%로 계산한 {eun(_asked(p))} "
            f"얼마입니까? 원 미만은 반올림해 주세요.")


TASK = Task("finance", "vat", sample, solve, templates(
    "finance.vat", ("train", _t1), ("train", _t2), ("train", _t3), ("test", _t4), ("test", _t5)))
