"""Gemma's turn format: only model turns are trained, the system text joins the first user turn, and
the renderer gives the same tokens as Gemma's chat template (which kdtune ships to Gemma tokenizers
that have none, so generation prompts match training).

Run: OMP_NUM_THREADS=1 python -m pytest tests/trainers/data/test_gemma_chat_format.py -q
"""
import pytest

from trainers.data.chat_format import GEMMA_CHAT_TEMPLATE, IGNORE, detect_format, tokenize_chat
from trainers.models.tiny_model import ensure_tiny_model


@pytest.fixture(scope="module")
def tok():
    from trainers.models.model_builder import tokenizer_loader
    path = str(ensure_tiny_model("gemma3"))
    return tokenizer_loader(path).from_pretrained(path)


CHAT = [{"role": "system", "content": "당신은 은행 상담원입니다."},
        {"role": "user", "content": "  카드를 잃어버렸어요 ㅠㅠ "},
        {"role": "assistant", "content": "분실 신고부터 도와드릴게요.\n"},
        {"role": "user", "content": "앱에서도 되나요?"},
        {"role": "assistant", "content": "네, 앱 > 카드 > 분실신고 메뉴입니다."}]


def spans(ids, labels, trained: bool):
    """Maximal runs of trained (or untrained) tokens, as token lists."""
    runs, cur = [], []
    for i, l in zip(ids, labels):
        if (l != IGNORE) == trained:
            cur.append(i)
        elif cur:
            runs.append(cur)
            cur = []
    return runs + ([cur] if cur else [])


def test_gemma_vocabulary_is_detected(tok):
    assert detect_format(tok) == "gemma"
    assert tok.bos_token == "<bos>" and tok.eos_token == "<eos>" and tok.pad_token_id == 0


def test_only_model_turns_are_trained_each_ending_with_end_of_turn(tok):
    ids, labels = tokenize_chat(CHAT, tok, "gemma", 512)
    assert len(ids) == len(labels)
    trained = [tok.decode(run) for run in spans(ids, labels, True)]
    # answer text (stripped, as the template does) plus the turn end the model must learn to emit
    assert trained == ["분실 신고부터 도와드릴게요.<end_of_turn>", "네, 앱 > 카드 > 분실신고 메뉴입니다.<end_of_turn>"]
    prompt = tok.decode(spans(ids, labels, False)[0])
    assert prompt == ("<bos><start_of_turn>user\n당신은 은행 상담원입니다.\n\n카드를 잃어버렸어요 ㅠㅠ<end_of_turn>\n"
                      "<start_of_turn>model\n")
    assert "system" not in tok.decode(ids)          # Gemma has no system role


def test_renderer_matches_gemma_chat_template_token_for_token(tok):
    assert tok.chat_template == GEMMA_CHAT_TEMPLATE
    for chat in (CHAT, CHAT[1:3], CHAT[1:]):
        ids, labels = tokenize_chat(chat, tok, "gemma", 512)
        assert ids == tok.apply_chat_template(chat, tokenize=True, return_dict=False)
        # the generation prompt is exactly the untrained prefix before the last answer
        prompt = tok.apply_chat_template(chat[:-1], tokenize=True, add_generation_prompt=True, return_dict=False)
        last_answer_start = max(i for i in range(1, len(ids)) if labels[i] != IGNORE and labels[i - 1] == IGNORE)
        assert ids[:last_answer_start] == prompt


def test_template_route_masks_the_same_tokens(tok):
    g_ids, g_labels = tokenize_chat(CHAT, tok, "gemma", 512)
    t_ids, t_labels = tokenize_chat(CHAT, tok, "template", 512)
    assert t_ids == g_ids
    # the template route trains from the generation prompt to the end of the turn, "\n" included
    g_trained = [tok.decode(r) for r in spans(g_ids, g_labels, True)]
    t_trained = [tok.decode(r) for r in spans(t_ids, t_labels, True)]
    assert [t.rstrip("\n") for t in t_trained] == g_trained
