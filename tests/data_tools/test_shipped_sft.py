"""The shipped Korean SFT sets: chat layout, enough rows, clean Korean text, well-formed reasoning.

These files are hand-written for kdtune. Recipes and smoke runs train on them directly, so a broken
line, a role out of order, NFD Hangul or an unclosed <think> block would surface as a confusing
tokenizer or loss error far from its cause.
"""

import json
import re
import unicodedata
from collections import Counter
from pathlib import Path

import pytest

import data_tools

SFT_DIR = Path(data_tools.__file__).parent / "shipped" / "sft"
DOMAINS = {"manufacturing": "mfg", "finance": "fin", "healthcare": "hc"}
MIN_ROWS = 150
MIN_THINK_SHARE = 0.15
MIN_HANGUL_SHARE = 0.6        # per row, over all message contents
MIN_MESSAGE_HANGUL = 0.5      # per message: every turn is mostly Korean
THINK_OPEN, THINK_CLOSE = "<think>", "</think>"
# Hangul syllables, Jamo and compatibility Jamo only: [ㄱ-힣] would also span CJK ideographs.
HANGUL_RANGES = ((0xAC00, 0xD7A3), (0x1100, 0x11FF), (0x3130, 0x318F))
# Personal data must never ship: phones, e-mail, resident registration numbers, card numbers.
PII = {
    "phone": re.compile(r"(?<!\d)(?:\+82[- ]?|0)1[016789][- ]?\d{3,4}[- ]?\d{4}(?!\d)"),
    "email": re.compile(r"[\w.+-]+@[\w-]+\.[\w.-]+"),
    "rrn": re.compile(r"(?<!\d)\d{6}-[1-8]\d{6}(?!\d)"),
    "card": re.compile(r"(?<!\d)\d{4}[- ]\d{4}[- ]\d{4}[- ]\d{4}(?!\d)"),
}


def is_hangul(ch: str) -> bool:
    cp = ord(ch)
    return any(lo <= cp <= hi for lo, hi in HANGUL_RANGES)


def hangul_share(text: str) -> float:
    """Share of letters (str.isalpha) that are Hangul; the <think> tags are not text."""
    text = text.replace(THINK_OPEN, " ").replace(THINK_CLOSE, " ")
    letters = [c for c in text if c.isalpha()]
    return sum(map(is_hangul, letters)) / len(letters) if letters else 0.0


def load(domain):
    path = SFT_DIR / f"{domain}.jsonl"
    lines = path.read_text(encoding="utf-8").splitlines()
    assert lines, f"{path} is empty"
    rows = []
    for i, line in enumerate(lines, 1):
        assert line.strip(), f"{path.name} line {i} is blank"
        try:
            row = json.loads(line)
        except json.JSONDecodeError as err:
            pytest.fail(f"{path.name} line {i} is not JSON: {err}")
        assert isinstance(row, dict), f"{path.name} line {i} is not an object"
        rows.append(row)
    return rows


def check_think(content: str, where: str) -> bool:
    """Every <think> is closed by a later </think>, blocks do not nest, and an answer follows."""
    if THINK_OPEN not in content and THINK_CLOSE not in content:
        return False
    depth = 0
    for tag in re.findall(r"</?think>", content):
        depth += 1 if tag == THINK_OPEN else -1
        assert depth in (0, 1), f"{where}: unbalanced or nested think tags"
    assert depth == 0, f"{where}: <think> without </think>"
    assert content.startswith(THINK_OPEN), f"{where}: reasoning must open the turn"
    reasoning = content[len(THINK_OPEN):content.index(THINK_CLOSE)]
    assert reasoning.strip(), f"{where}: empty reasoning"
    answer = content[content.rindex(THINK_CLOSE) + len(THINK_CLOSE):]
    assert answer.strip(), f"{where}: no answer after </think>"
    return True


@pytest.mark.parametrize("domain", sorted(DOMAINS))
def test_rows_are_chat_records(domain):
    rows = load(domain)
    assert len(rows) >= MIN_ROWS, f"{domain}: {len(rows)} rows"
    for i, row in enumerate(rows, 1):
        where = f"{domain}.jsonl line {i}"
        assert set(row) == {"messages", "meta"}, where
        meta, messages = row["meta"], row["messages"]
        assert meta["domain"] == domain, where
        assert isinstance(meta["topic"], str) and meta["topic"].strip(), where
        assert re.fullmatch(rf"{DOMAINS[domain]}-\d{{4}}", meta["id"]), f"{where}: id {meta['id']!r}"
        assert isinstance(messages, list) and len(messages) >= 2 and len(messages) % 2 == 0, where
        for k, message in enumerate(messages):
            assert set(message) == {"role", "content"}, where
            assert message["role"] == ("user" if k % 2 == 0 else "assistant"), f"{where}: turn {k}"
            assert isinstance(message["content"], str) and message["content"].strip(), f"{where}: turn {k} empty"


@pytest.mark.parametrize("domain", sorted(DOMAINS))
def test_ids_and_questions_are_unique(domain):
    rows = load(domain)
    ids = Counter(r["meta"]["id"] for r in rows)
    assert not [i for i, c in ids.items() if c > 1], "repeated ids"
    firsts = Counter(" ".join(r["messages"][0]["content"].split()) for r in rows)
    repeated = [q for q, c in firsts.items() if c > 1]
    assert not repeated, repeated[:3]


@pytest.mark.parametrize("domain", sorted(DOMAINS))
def test_text_is_nfc_korean(domain):
    for i, row in enumerate(load(domain), 1):
        where = f"{domain}.jsonl line {i}"
        texts = [m["content"] for m in row["messages"]]
        assert all(unicodedata.is_normalized("NFC", t) for t in texts + [row["meta"]["topic"]]), \
            f"{where}: not NFC"
        share = hangul_share("\n".join(texts))
        assert share >= MIN_HANGUL_SHARE, f"{where}: Hangul share {share:.2f}"
        for k, text in enumerate(texts):
            assert hangul_share(text) >= MIN_MESSAGE_HANGUL, f"{where}: turn {k} is not mostly Korean"


@pytest.mark.parametrize("domain", sorted(DOMAINS))
def test_reasoning_blocks_are_well_formed(domain):
    rows = load(domain)
    with_think = 0
    for i, row in enumerate(rows, 1):
        where = f"{domain}.jsonl line {i}"
        for k, message in enumerate(row["messages"]):
            if message["role"] == "user":
                assert THINK_OPEN not in message["content"] and THINK_CLOSE not in message["content"], where
        # R1 convention: earlier assistant turns keep only their answer, so reasoning sits last.
        for message in row["messages"][1:-2:2]:
            assert THINK_OPEN not in message["content"], f"{where}: reasoning in an earlier turn"
        with_think += check_think(row["messages"][-1]["content"], where)
    share = with_think / len(rows)
    assert share >= MIN_THINK_SHARE, f"{domain}: only {share:.0%} of rows reason in <think>"


@pytest.mark.parametrize("domain", sorted(DOMAINS))
def test_no_personal_data(domain):
    for i, row in enumerate(load(domain), 1):
        for message in row["messages"]:
            for kind, pattern in PII.items():
                hit = pattern.search(message["content"])
                assert not hit, f"{domain}.jsonl line {i}: looks like {kind}: {hit.group()!r}"


def test_no_question_repeats_across_domains():
    firsts = Counter(r["messages"][0]["content"] for d in DOMAINS for r in load(d))
    assert not [q for q, c in firsts.items() if c > 1]


def test_hangul_share_counts_hangul_blocks_only():
    assert hangul_share("한국어") == 1.0
    assert hangul_share("ㄱㄴ ᄀ") == 1.0                # compatibility Jamo and Jamo count
    assert hangul_share("漢字") == 0.0                   # CJK ideographs are not Hangul
    assert hangul_share("한글 abcd") == pytest.approx(2 / 6)
    assert hangul_share("<think>\n생각\n</think>\n\n답") == 1.0
    assert re.fullmatch(r"[ㄱ-힣]", "漢")  # the trap: the naive range would count this as Hangul


def test_think_check_rejects_malformed_blocks():
    assert check_think("<think>\n계산\n</think>\n\n답입니다.", "ok")
    assert not check_think("그냥 답입니다.", "plain")
    for bad in ("<think>\n계산만 하고 끝", "<think>\n계산\n</think>\n\n", "답 <think>\n계산\n</think> 끝",
                "<think><think>\n중첩\n</think></think> 답", "</think> 답"):
        with pytest.raises(AssertionError):
            check_think(bad, "bad")
