"""System turns are context, never targets: in every chat format the labels of a system message's
tokens are -100, and what is trained is exactly the assistant text plus its end token — also when
the system turn comes from data.system_prompt rather than the chat itself."""
import pytest

from trainers.data.chat_format import IGNORE, tokenize_chat
from trainers.data.sft_data import tokenize_chats
from trainers.models.tiny_model import ensure_tiny_model

SYSTEM = "너는 신중한 세무 상담사다. 근거를 먼저 밝힌다."
CHAT = [{"role": "system", "content": SYSTEM},
        {"role": "user", "content": "부가세는 얼마인가요?"},
        {"role": "assistant", "content": "<think>\n10000 × 0.1 = 1000\n</think>\n\n정답: 1,000원"}]
END = {"r1": None, "chatml": "<|im_end|>", "llama3": "<|eot_id|>"}   # None: the tokenizer's eos


@pytest.fixture(scope="module")
def tok():
    from trainers.models.model_builder import tokenizer_loader
    path = str(ensure_tiny_model("qwen2"))
    return tokenizer_loader(path).from_pretrained(path)


def trained_text(tok, ids, labels) -> str:
    return tok.decode([i for i, lab in zip(ids, labels) if lab != IGNORE])


def system_span(tok, ids) -> tuple[int, int]:
    """Token positions of the system text inside `ids` (found by its own token ids)."""
    sys_ids = tok(SYSTEM, add_special_tokens=False)["input_ids"]
    for start in range(len(ids) - len(sys_ids) + 1):
        if ids[start:start + len(sys_ids)] == sys_ids:
            return start, start + len(sys_ids)
    raise AssertionError("system text not found as a token run (tokenised across a boundary?)")


@pytest.mark.parametrize("fmt", ["r1", "chatml", "llama3", "template"])
def test_system_tokens_are_never_trained(tok, fmt):
    ids, labels = tokenize_chat(CHAT, tok, fmt, 4096)
    start, end = system_span(tok, ids)
    assert labels[start:end] == [IGNORE] * (end - start)
    trained = trained_text(tok, ids, labels)
    assert SYSTEM not in trained and "세무 상담사" not in trained
    if fmt == "r1":           # the generation prompt opens "<think>\n", so that is prompt too
        assert "<think>\n" + trained == CHAT[2]["content"] + tok.eos_token
    elif fmt != "template":   # the template's generation prompt already opens "<think>\n"
        assert trained == CHAT[2]["content"] + (END[fmt] or tok.eos_token)


@pytest.mark.parametrize("fmt", ["r1", "chatml"])
def test_configured_system_prompt_is_context_only(tok, fmt):
    chat = CHAT[1:]
    (with_sys,), _ = tokenize_chats([chat], tok, fmt, 4096, True, system_prompt=SYSTEM)
    (without,), _ = tokenize_chats([chat], tok, fmt, 4096, True)
    start, end = system_span(tok, with_sys.input_ids)
    assert with_sys.labels[start:end] == [IGNORE] * (end - start)
    # the prompt grew, the targets did not
    assert len(with_sys.input_ids) > len(without.input_ids)
    assert with_sys.n_targets == without.n_targets
    assert trained_text(tok, with_sys.input_ids, with_sys.labels) == trained_text(tok, without.input_ids,
                                                                                  without.labels)
