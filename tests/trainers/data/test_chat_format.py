"""Chat -> tokens: the loss covers exactly the assistant text (+ end token); <think> handling."""
import pytest

from trainers.data.chat_format import IGNORE, detect_format, strip_think, tokenize_chat
from trainers.models.tiny_model import ensure_tiny_model


@pytest.fixture(scope="module")
def tok():
    from trainers.models.model_builder import tokenizer_loader
    path = str(ensure_tiny_model("qwen2"))
    return tokenizer_loader(path).from_pretrained(path)


def test_tiny_tokenizer_loads_as_trained(tok):
    # the vocabulary the model was sized for, no extra tokens added on reload
    from transformers import AutoConfig
    assert len(tok) == AutoConfig.from_pretrained(ensure_tiny_model("qwen2")).vocab_size


def trained_text(tok, ids, labels):
    return tok.decode([i for i, l in zip(ids, labels) if l != IGNORE])


CHAT = [{"role": "user", "content": "부가세는 얼마인가요?"},
        {"role": "assistant", "content": "<think>\n10000 × 0.1 = 1000\n</think>\n\n정답: 1,000원"}]


def test_detects_r1_on_the_tiny_tokenizer(tok):
    assert detect_format(tok) == "r1"


def test_only_assistant_tokens_are_trained_and_think_is_kept(tok):
    # R1's generation prompt opens "<think>\n" (DeepSeek's usage notes), so in training it is prompt
    ids, labels = tokenize_chat(CHAT, tok, "r1", 512)
    assert len(ids) == len(labels)
    assert "<think>\n" + trained_text(tok, ids, labels) == CHAT[1]["content"] + tok.eos_token
    prompt = tok.decode([i for i, l in zip(ids, labels) if l == IGNORE])
    assert prompt == tok.bos_token + "<｜User｜>" + CHAT[0]["content"] + "<｜Assistant｜><think>\n"


def test_r1_answer_without_think_gets_an_empty_think_block(tok):
    chat = [CHAT[0], {"role": "assistant", "content": "정답: 1,000원"}]
    ids, labels = tokenize_chat(chat, tok, "r1", 512)
    assert tok.decode(ids).endswith("<｜Assistant｜><think>\n\n</think>\n\n정답: 1,000원" + tok.eos_token)
    assert trained_text(tok, ids, labels) == "\n</think>\n\n정답: 1,000원" + tok.eos_token


def test_earlier_turns_lose_think_last_keeps_it(tok):
    chat = [CHAT[0], CHAT[1], {"role": "user", "content": "합계는요?"},
            {"role": "assistant", "content": "<think>\n10000 + 1000\n</think>\n\n11,000원"}]
    ids, labels = tokenize_chat(chat, tok, "r1", 512)
    trained = trained_text(tok, ids, labels)   # history turns as R1 sees them: no think, no opener
    assert trained == "정답: 1,000원" + tok.eos_token + chat[3]["content"].removeprefix("<think>\n") + tok.eos_token
    ids2, labels2 = tokenize_chat(chat, tok, "r1", 512, keep_think=False)
    assert "<think>" not in trained_text(tok, ids2, labels2)


def test_template_format_masks_the_same_tokens_as_r1(tok):
    # the tiny tokenizer's chat template renders the R1 layout, so both routes give the same ids; both
    # generation prompts open "<think>\n", so that part is prompt, not target, in both
    t_ids, t_labels = tokenize_chat(CHAT, tok, "template", 512)
    r_ids, r_labels = tokenize_chat(CHAT, tok, "r1", 512)
    assert t_ids == r_ids and t_labels == r_labels


def test_truncation_and_strip_think():
    assert strip_think("<think>a</think>\n\n답") == "답"
    assert strip_think("생각 없이 답") == "생각 없이 답"


def test_truncation_cuts_both_lists(tok):
    ids, labels = tokenize_chat(CHAT, tok, "r1", 7)
    assert len(ids) == len(labels) == 7


def test_chatml_and_llama3_segments_mark_assistant_only():
    from trainers.data.chat_format import chatml_segments, llama3_segments
    for fmt in (chatml_segments, llama3_segments):
        segs = fmt(CHAT, {"bos": "", "eos": ""}, True)
        trained = "".join(s.text for s in segs if s.trained)
        assert trained.startswith(CHAT[1]["content"]) and CHAT[0]["content"] not in trained
