"""Compiled regular expressions and context-word lists used by `detect.py`.

Everything here is compiled once at import. Two ideas keep false positives down:
  * Boundaries: a number must not be glued to other digits or Latin letters, nor joined to
    them by a hyphen ("LOT-2024-0315-A"), nor be part of a decimal ("3.010"). See _PRE/_POST.
  * Labels: the nearest label word before a number decides what it is. "주민등록번호 ..." or
    "계좌 ..." support a match; "주문번호 ...", "LOT ...", "바코드 ..." suppress it.
Korean words are compiled in both NFC and NFD spellings, so context still works on text from
macOS tools that was not normalised; digit matching never depends on Hangul at all.
"""

from __future__ import annotations

import re
import unicodedata


def _words(*words: str) -> str:
    """Alternation of `words` and their NFD spellings, longest first so "운송장" beats "송장"."""
    spellings = {unicodedata.normalize(form, w) for w in words for form in ("NFC", "NFD")}
    return "|".join(re.escape(w) for w in sorted(spellings, key=len, reverse=True))


# Every digit pattern begins with a bare character class so the regex engine can jump straight
# to the next candidate character (a leading lookbehind would switch that optimisation off and
# make each pattern ~3x slower). The start-boundary checks therefore look back from *after* the
# first character: "(?<!X.)" reads "the char before the first digit is not X". A number must not
# follow a digit or Latin letter, an "X-" (tail of a code like "LOT-2024") or "9." / "9,"
# (inside a decimal or a thousands-grouped amount).
_STARTED = r"(?<![0-9A-Za-z].)(?<![0-9A-Za-z]-.)(?<![0-9][.,].)"
_DIGIT_START = r"[0-9]" + _STARTED
# ...and it ends where the next char is not a digit/letter, not "-X" and not ".9" / ",9".
_POST = r"(?![0-9A-Za-z])(?!-[0-9A-Za-z])(?![.,][0-9])"

ANY_DIGIT = re.compile(r"[0-9]")

# --- The detection view ---------------------------------------------------------------------
# find_pii matches on a copy of the text in which look-alike characters read as their ASCII
# twins, one code point for one (so every offset still points into the caller's text): full-
# width forms (０１０－１２３４, ＴＥＬ：) from Excel exports and OCR, every dash a writer or a word
# processor puts between digit groups (U+2010 hyphen, U+2011 non-breaking hyphen, U+2012 figure
# dash, U+2013 en dash, U+2212 minus, U+FE63 small and U+FF0D full-width hyphen-minus), and the
# no-break / figure / ideographic spaces. The em dash (U+2014) stays: it separates clauses.
# Done here rather than by the prepare normaliser so that every caller, whatever its
# `fullwidth` setting, and every kind sees the same separators.
VIEW_FOLD = {
    **{cp: cp - 0xFEE0 for cp in range(0xFF01, 0xFF5F)},
    **dict.fromkeys(map(ord, "\u2010\u2011\u2012\u2013\u2212\ufe63"), ord("-")),
    **dict.fromkeys(map(ord, "\u00a0\u2007\u202f\u3000"), ord(" ")),
}
NEEDS_VIEW = re.compile("[" + re.escape("".join(map(chr, VIEW_FOLD))) + "]")


def detection_view(text: str) -> str:
    """`text` with look-alike digits, dashes and spaces folded to ASCII, same length."""
    return text.translate(VIEW_FOLD) if NEEDS_VIEW.search(text) else text

# --- Candidate patterns, one per identifier shape -------------------------------------------

# 13 digits as YYMMDD-NNNNNNN, hyphen (or a lone space) optional: resident, foreigner or corporate.
# (Every dash variant reads "-" here: patterns match the detection view, see above.)
_ID13_SEP = r"(?P<sep>\s?-\s?|\s)?"
ID13 = re.compile(r"(?P<a>" + _DIGIT_START + r"[0-9]{5})" + _ID13_SEP + r"(?P<b>[0-9]{7})" + _POST)
# The same with one digit too few or too many after the date: a typo, kept only when a label
# names it ("주민번호 860622-374459"); on its own this shape means nothing.
ID13_MISTYPED = re.compile(
    r"(?P<a>" + _DIGIT_START + r"[0-9]{5})" + _ID13_SEP + r"(?P<b>[0-9]{8}|[0-9]{6})" + _POST
)

# Cards: 4-4-4-4(-3) with one consistent separator, Amex 4-6-5 / Diners 4-6-4, or a bare 15/16-
# digit run (its first digit, the card network, is checked later, as is Luhn).
CARD = re.compile(
    _DIGIT_START
    + r"(?:[0-9]{3}(?P<s1>[- ])[0-9]{4}(?P=s1)[0-9]{4}(?P=s1)[0-9]{4}(?:(?P=s1)[0-9]{3})?"
    + r"|[0-9]{3}(?P<s2>[- ])[0-9]{6}(?P=s2)[0-9]{4,5}"
    + r"|[0-9]{14,15})"
    + _POST
)

# Driver licence: NN-NN-NNNNNN-NN (region code checked later), or a region name before
# NN-NNNNNN-NN. The bare NN-NNNNNN-NN and 12-digit forms need a 면허 label (checked later).
LICENSE_REGIONS = (
    "서울", "부산", "경기", "강원", "충북", "충남", "전북", "전남", "경북", "경남",
    "제주", "대구", "인천", "광주", "대전", "울산", "경기북부", "경기남부", "세종",
)
DRIVER_LICENSE = re.compile(
    _DIGIT_START + r"[0-9](?:(?:-[0-9]{2})?-[0-9]{6}-[0-9]{2}|[0-9]{10})" + _POST
)
# The four groups joined by one consistent separator, a space or a hyphen, with each group's
# length free by one: "28 21 004518 73", or a typo "11-19-38475-21". detect.py keeps the exact
# hyphenated form to DRIVER_LICENSE and makes every other one need a 면허 label.
DRIVER_LICENSE_GROUPS = re.compile(
    _DIGIT_START + r"[0-9]{1,2}(?P<s>[- ])[0-9]{1,3}(?P=s)[0-9]{5,7}(?P=s)[0-9]{1,3}" + _POST
)
DRIVER_LICENSE_REGION = re.compile(
    r"(?P<region>" + _words(*LICENSE_REGIONS) + r")\s?"
    + r"[0-9]{2}(?:-[0-9]{2})?-[0-9]{6}-[0-9]{2}" + _POST
)

# Passport: new format (2021-) M123A4567; old format M12345678 needs a passport word nearby,
# because "M12345678" is also what part numbers look like.
PASSPORT = re.compile(
    r"[MSRODG]" + _STARTED + r"(?:(?P<new>[0-9]{3}[A-Z][0-9]{4})|[0-9]{8})" + _POST
)
# Any document number right after a passport label, in any case: ICAO 9303 allows up to nine
# letters and digits, so foreign passports (EA1234567, C4518827, 9 US digits), a lower-case
# "m12345678" or a Korean one a digit short all fit. Only a label right before carries it.
PASSPORT_NAMED = re.compile(
    r"[A-Za-z0-9]" + r"(?<![0-9A-Za-z].)(?<![0-9A-Za-z]-.)"
    + r"(?:(?<=[A-Za-z])[A-Za-z]?[0-9]{6,8}|(?<=[A-Za-z])[0-9]{3}[A-Za-z][0-9]{4}"
    + r"|(?<=[0-9])[0-9]{7,8})" + _POST
)

# Business registration number NNN-NN-NNNNN (bare 10 digits only after a 사업자 label); spaced
# "617 15 22408" or a last group a digit off are matched too, and need the label (detect.py).
BRN = re.compile(
    _DIGIT_START + r"(?:[0-9]{2}(?P<s>[- ])[0-9]{2}(?P=s)[0-9]{4,6}|[0-9]{9})" + _POST
)

# Phones. Separators: "-", ".", " " or " - ". Domestic numbers all start with 0: mobile 01X,
# Seoul 02, area codes 031..064, 070 (VoIP), 080 (toll free), 050X (safe numbers).
_SEP = r"(?:\s?[-.]\s?|\s)"
_AREA_AFTER_0 = r"(?:2|[3-6][1-5]|70|80|50[0-9]?)"
PHONE_DOMESTIC = re.compile(
    r"0" + _STARTED
    + r"(?:(?P<mobile>1[016789])" + _SEP + r"?[0-9]{3,4}" + _SEP + r"?[0-9]{4}"
    + r"|" + _AREA_AFTER_0 + r"(?:\)\s?|" + _SEP + r")[0-9]{3,4}" + _SEP + r"[0-9]{4})"
    + _POST
)
# "+82 10-...", "+82-2-...", "+82 (0)10-..." and the common slip "+82 010-...", or "(02) ...".
PHONE_PREFIXED = re.compile(
    r"\+(?<![0-9A-Za-z+].)82" + _SEP + r"?(?:\(0\)\s?|0)?(?P<intl>1[016789]|2|[3-6][1-5]|70|80)"
    + _SEP + r"?[0-9]{3,4}" + _SEP + r"?[0-9]{4}" + _POST
    + r"|\((?<![0-9A-Za-z(].)0(?:1[016789]|" + _AREA_AFTER_0 + r")\)\s?[0-9]{3,4}"
    + _SEP + r"?[0-9]{4}" + _POST
)

# A phone a digit short or long in its last groups, or with the letter O typed for a zero
# ("010-3829-12O4"): only a phone label right before it carries it (detect.py).
PHONE_MISTYPED = re.compile(
    r"0" + _STARTED + r"(?:1[016789]|2|[3-6][1-5]|70)(?P<s>\s?[-.]\s?|\s)"
    + r"[0-9Oo]{3,4}(?P=s)[0-9Oo]{3,5}" + _POST
)

EMAIL = re.compile(
    r"[A-Za-z0-9](?<![A-Za-z0-9._%+-].)[A-Za-z0-9._%+-]*@"
    r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*"
    r"\.[A-Za-z]{2,}(?![A-Za-z0-9-])"
)

# Cards typed a digit short or long: four groups of 4 with one of them 3 or 5 digits long
# ("4518-2210-9384-776"); only a card label right before it carries it (detect.py).
CARD_MISTYPED = re.compile(
    _DIGIT_START + r"[0-9]{2,4}(?P<s>[- ])[0-9]{3,5}(?P=s)[0-9]{3,5}(?P=s)[0-9]{3,5}" + _POST
)

# Bank account: digit groups joined by hyphens or by single spaces (one kind per number),
# 10..14 digits in total (checked later), or a bare run.
BANK_ACCOUNT = re.compile(
    _DIGIT_START
    + r"(?:[0-9]{1,5}(?:-[0-9]{1,7}){1,4}|[0-9]{1,5}(?: [0-9]{1,7}){1,4}|[0-9]{9,13})"
    + _POST
)

# --- Context words ------------------------------------------------------------------------

# Names that are unambiguous on their own, plus the generic words 은행 (bank) and 계좌 (account).
_BANKS_ALONE = (
    "은행", "계좌", "신한", "농협", "NH농협", "카카오뱅크", "카카오", "토스뱅크",
    "케이뱅크", "새마을금고", "우체국", "SC제일", "제일은행", "씨티", "수협", "신협",
    "KB국민", "IBK", "iM뱅크", "저축은행", "예금주",
)
# Short names that are also everyday words or parts of words (우리 = "we", 하나 = "one", 기업 =
# "company", 부산 = a city, 토스 in "산토스"): they count only right before the number, like
# "우리 1002-123-456789".
_BANKS_ADJACENT = (
    "국민", "우리", "하나", "기업", "부산", "대구", "경남", "광주", "전북", "제주", "토스",
    "KB", "SC",
)
BANK_NEAR = re.compile(_words(*_BANKS_ALONE))
BANK_RIGHT_BEFORE = re.compile(r"(?:" + _words(*_BANKS_ADJACENT) + r")\s?[:：]?\s?$")

_CORPORATE_WORDS = ("법인", "주식회사", "유한회사", "(주)", "㈜")
CORPORATE_NEAR = re.compile(_words(*_CORPORATE_WORDS))
PASSPORT_NEAR = re.compile(_words("여권", "passport", "Passport", "PASSPORT"))
PRODUCT_NEAR = re.compile(_words("EAN", "GTIN", "JAN", "UPC", "바코드", "상품", "제품", "품목", "유통"))
# Words of logistics, production and inventory: a code-like number near one is an order, lot,
# part or barcode number, not a person's (context.Context.non_personal_near). Used together with
# every "other" label below; phones and e-mails ignore them (a 주문자's phone is still a phone).
_NON_PERSONAL_WORDS = (
    "주문", "출고", "입고", "재고", "배송", "택배", "발주", "납품", "반품", "송장", "품번", "품목",
    "부품", "자재", "제품", "상품", "유통", "바코드", "로트", "시리얼", "관리번호", "일련번호",
    "창고", "검수", "포장", "출하", "쿠폰", "EAN", "GTIN", "JAN", "UPC", "LOT", "Lot", "SKU",
    "Order", "order", "ORDER", "Shipment", "shipment", "Tracking", "tracking", "TRACKING",
)


def _latin_cases(*words: str) -> tuple[str, ...]:
    """"corp. reg" -> corp. reg, Corp. reg, Corp. Reg, CORP. REG: how people type a label."""
    return tuple({v for w in words for v in (w.lower(), w.capitalize(), w.title(), w.upper())})


# Label words, by what they announce: a kind id, "id13" (resident or foreigner number), or
# "other" (identifiers that are not personal data: orders, lots, parts, barcodes ...). The *last*
# label before a number, within a short window, decides (see context.Context).
_LABEL_WORDS = {
    # Whole names only, not "주민" / "외국인" / "주민등록" (주민센터, 외국인 관광객, 주민등록등본):
    # a label can vouch for mistyped digits, so it must really name the number.
    "id13": ("주민등록번호", "주민등록 번호", "주민번호", "주민 번호", "외국인등록번호", "외국인등록증",
             "외국인 등록번호", "외국인번호", "외국인 번호", "생년월일", *_latin_cases("rrn", "dob")),
    "crn": (*_CORPORATE_WORDS,
            *_latin_cases("corp. reg", "corp reg", "corporate reg", "corporation reg")),
    "brn": ("사업자", *_latin_cases("biz reg", "business reg", "brn")),
    "passport": ("여권", *_latin_cases("passport")),
    "driver_license": ("면허", *_latin_cases("license", "licence")),
    "card": ("카드", *_latin_cases("card")),
    # the short names count only adjacent: BANK_RIGHT_BEFORE
    "bank_account": (*_BANKS_ALONE,
                     *_latin_cases("acct", "account no", "account number", "bank account")),
    "phone": ("전화", "연락처", "휴대폰", "핸드폰", "휴대전화", "팩스", "콜백",
              *_latin_cases("tel", "fax", "mobile", "phone", "hp", "h.p")),
    "other": (
        "주문번호", "송장", "운송장", "접수번호", "문서번호", "관리번호", "로트", "시리얼",
        "일련번호", "품번", "부품번호", "모델명", "모델번호", "바코드", "제품코드", "상품코드",
        "제품번호", "상품번호", "승인번호", "거래번호", "예약번호", "발주번호", "인보이스",
        "도면번호", "특허번호", "자산번호", "장비번호", "사번", "사원번호", "학번", "환자번호",
        "차트번호", "처방번호", "보험코드", "약품코드", "청구번호", "증권번호", "계약번호",
        "고객번호", "회원번호", "쿠폰번호", "EAN", "GTIN",
        *_latin_cases("lot", "s/n", "sn", "p/n", "part", "serial", "model", "invoice", "po",
                      "order no", "order number", "order #", "order id", "tracking", "barcode",
                      "sku", "coupon", "voucher", "pin"),
    ),
}
LABEL_KIND = {
    unicodedata.normalize(form, word): kind
    for kind, words in _LABEL_WORDS.items() for word in words for form in ("NFC", "NFD")
}
# A plain alternation of literals (no groups, no lookarounds) so the engine can skip fast.
LABEL = re.compile("|".join(re.escape(w) for w in sorted(LABEL_KIND, key=len, reverse=True)))
_NON_PERSONAL_ALL = (*_NON_PERSONAL_WORDS, *_LABEL_WORDS["other"])
# Latin words only as whole words: "po" inside "Report" or "lot" inside "PILOT" says nothing.
NON_PERSONAL_NEAR = re.compile(
    _words(*(w for w in _NON_PERSONAL_ALL if not w.isascii()))
    + r"|(?<![A-Za-z])(?:" + _words(*(w for w in _NON_PERSONAL_ALL if w.isascii())) + r")(?![A-Za-z])"
)
