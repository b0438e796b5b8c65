"""Label scoring: the cached, batched log-likelihood equals a naive per-label loop; prompts are the
training render; greedy exact match equals a cache-free greedy loop; a model taught one answer by
the training chat gives it back through both scorings."""
import pytest
import torch

from data_tools.cls_tasks import get_task, prompt_chat, training_chat
from trainers.data.chat_format import IGNORE, tokenize_chat
from trainers.evaluation.label_generation import (default_max_new_tokens, generate_label, greedy_tokens,
                                                  match_label, normalise_answer)
from trainers.evaluation.label_scoring import (argmax, encode_prompt, normalise_scores, score_continuations,
                                               score_labels)

TEXT = "해외 결제 승인이 두 번 났는데 하나 취소 언제 되나요 ㅠ"


@pytest.fixture(scope="module")
def qwen():
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trainers.models.model_loading import resolve_model_source
    path = resolve_model_source("tiny:qwen2")[0]
    torch.manual_seed(0)
    return AutoModelForCausalLM.from_pretrained(path).eval(), AutoTokenizer.from_pretrained(path)


def tiny_gemma3():
    """Gemma 3 layout at toy size: sliding-window layers (window 8, shorter than the prompts) next to a
    global one, head_dim ≠ hidden/heads, one KV head — the cache the real 270M model uses."""
    from transformers import Gemma3ForCausalLM, Gemma3TextConfig
    torch.manual_seed(0)
    cfg = Gemma3TextConfig(vocab_size=320, hidden_size=64, intermediate_size=128, num_hidden_layers=3,
                           num_attention_heads=4, num_key_value_heads=1, head_dim=32, sliding_window=8,
                           layer_types=["sliding_attention", "sliding_attention", "full_attention"],
                           max_position_embeddings=256)
    return Gemma3ForCausalLM(cfg).eval()


@torch.no_grad()
def naive_scores(model, context, continuations):
    """Reference: every label on its own, the whole sequence through the model, no cache, no batching."""
    out = []
    for cont in continuations:
        logits = model(input_ids=torch.tensor([context + cont])).logits[0].float()
        logprobs = torch.log_softmax(logits, dim=-1)
        out.append(sum(float(logprobs[len(context) - 1 + t, tok]) for t, tok in enumerate(cont)))
    return out


@torch.no_grad()
def naive_greedy(model, prompt, stops, max_new):
    seq = list(prompt)
    while True:
        seq.append(int(model(input_ids=torch.tensor([seq])).logits[0, -1].argmax()))
        if seq[-1] in stops or len(seq) - len(prompt) >= max_new:
            return seq[len(prompt):]


@pytest.mark.parametrize("k_shot", [0, 2])
def test_encoded_prompt_is_the_training_render(qwen, k_shot):
    model, tok = qwen
    task = get_task("finance")
    shots = [{"text": "적금 만기 재예치", "label": "예금·적금"}, {"text": "IRP 중도인출", "label": "연금"}][:k_shot]
    enc = encode_prompt(tok, "r1", prompt_chat(task, TEXT, shots), task.labels)
    assert all(c == enc.prompt for c in enc.contexts)          # one shared context: one prefill
    for label, cont in zip(task.labels, enc.continuations):
        assert tok.decode(cont) == label + tok.eos_token       # the label and its end-of-turn token
    assert enc.terminator == tok.eos_token and enc.stop_ids == [tok.eos_token_id]
    # the zero-shot context + label is token for token what training sees for {"text", "label"}
    if k_shot == 0:
        ids, labels = tokenize_chat(training_chat({"text": TEXT, "label": "카드"}, task), tok, "r1", 4096)
        j = task.labels.index("카드")
        assert ids == enc.contexts[j] + enc.continuations[j]
        # trained: R1's empty think block (every label shares it, so the scorer keeps it as prompt) + label
        closer = len(tok("\n</think>\n\n", add_special_tokens=False)["input_ids"])
        assert tok.decode(enc.prompt).endswith("<｜Assistant｜><think>\n\n</think>\n\n")
        assert [i for i, m in enumerate(labels) if m != IGNORE] == list(range(len(enc.prompt) - closer, len(ids)))
    # labels share first tokens and differ in length here too, which the scorer must handle
    assert len({len(c) for c in enc.continuations}) > 1


def test_chatml_answer_excludes_the_untrained_newline(qwen):
    _, tok = qwen
    task = get_task("manufacturing")
    enc = encode_prompt(tok, "chatml", prompt_chat(task, "표면 긁힘 2mm"), task.labels)
    assert [tok.decode(c) for c in enc.continuations] == [lab + "<|im_end|>" for lab in task.labels]
    assert tok.decode(enc.prompt).endswith("<|im_start|>assistant\n")
    assert enc.terminator == "<|im_end|>"


def test_plain_format_for_base_models(qwen):
    """plain: no markup; the prompt ends with "답: ", the scored answer is the label and its newline,
    and with shots every solved example reads "text / 답: label" — the same tokens training sees."""
    _, tok = qwen
    task = get_task("finance")
    shots = [{"text": "적금 만기 재예치", "label": "예금·적금"}]
    enc = encode_prompt(tok, "plain", prompt_chat(task, TEXT, shots), task.labels)
    assert [tok.decode(c) for c in enc.continuations] == [lab + "\n" for lab in task.labels]
    assert tok.decode(enc.prompt).endswith(TEXT + "\n답: ")
    assert "답: 예금·적금\n\n" in tok.decode(enc.prompt)
    enc = encode_prompt(tok, "plain", prompt_chat(task, TEXT), task.labels)
    ids, labels = tokenize_chat(training_chat({"text": TEXT, "label": "카드"}, task), tok, "plain", 4096)
    j = task.labels.index("카드")
    assert ids == enc.contexts[j] + enc.continuations[j]
    assert [i for i, m in enumerate(labels) if m != IGNORE] == list(range(len(enc.prompt), len(ids)))


@pytest.mark.parametrize("batch_size", [1, 3, 8])
def test_batched_label_scores_equal_the_naive_loop(qwen, batch_size):
    model, tok = qwen
    for domain in ("finance", "healthcare"):
        task = get_task(domain)
        enc = encode_prompt(tok, "r1", prompt_chat(task, TEXT), task.labels)
        got = score_labels(model, enc, batch_size)
        want = naive_scores(model, enc.prompt, enc.continuations)
        assert got == pytest.approx(want, abs=1e-4)
        assert argmax(got) == argmax(want)


def test_sliding_window_cache_gives_the_naive_scores():
    model = tiny_gemma3()
    context = list(range(5, 35))                               # 30 tokens > window 8
    conts = [[3], [7, 8, 9], [7, 8], [10, 11, 12, 13, 14, 15], [7], [7, 8, 9, 20]]   # shared prefixes
    for bs in (2, 8):
        assert score_continuations(model, context, conts, bs) == \
            pytest.approx(naive_scores(model, context, conts), abs=1e-4)


def test_normalisations_and_ties():
    sums, conts, labels = [-6.0, -4.0, -9.0], [[1, 2, 3], [1], [1, 2, 3]], ["치수 불량", "버", "용접 불량"]
    assert normalise_scores(sums, conts, labels, "sum") == sums
    assert normalise_scores(sums, conts, labels, "mean") == [-2.0, -4.0, -3.0]
    assert normalise_scores(sums, conts, labels, "char") == pytest.approx([-6 / 5, -4.0, -9 / 5])
    assert argmax([-1.0, -0.5, -0.5]) == 1                     # first of the tied best
    with pytest.raises(ValueError):
        normalise_scores(sums, conts, labels, "max")


def test_answer_normalisation_and_exact_match():
    labels = get_task("manufacturing").labels
    eos = "<｜end▁of▁sentence｜>"
    assert normalise_answer(" 치수   불량<｜end▁of▁sentence｜>", eos) == "치수 불량"
    assert normalise_answer("\n 크랙\n원인은 열처리", "", [eos]) == "크랙"
    assert normalise_answer("용접 불량<|im_end|>\n", "<|im_end|>") == "용접 불량"
    assert normalise_answer("", eos) == ""
    decomposed = "".join(__import__("unicodedata").normalize("NFD", "변색"))
    assert match_label(normalise_answer(decomposed), labels) == labels.index("변색")
    assert match_label("치수불량", labels) is None                 # exact: no fuzzy rescue
    assert match_label("버.", labels) is None
    assert match_label("버", labels) == 6


def test_greedy_with_cache_equals_the_naive_loop():
    model = tiny_gemma3()
    prompt = list(range(40, 70))
    for stops in ([], [int(naive_greedy(model, prompt, [], 1)[0])]):
        assert greedy_tokens(model, prompt, stops, 12) == naive_greedy(model, prompt, stops, 12)


def test_a_model_taught_the_answer_gives_it_back_both_ways(qwen):
    """Train on the training chat of one record; both scorings, on the eval prompt, return its label."""
    import copy
    model, tok = qwen
    model = copy.deepcopy(model).train()
    task = get_task("manufacturing")
    rec = {"text": "용접 비드 기공 다수, 언더컷 0.8mm", "label": "용접 불량"}
    ids, labels = tokenize_chat(training_chat(rec, task), tok, "r1", 4096)
    # R1's no-reasoning answer starts with the empty think block ("\n</think>\n\n", trained): the
    # tiny model must learn to tell its two "\n\n" apart, which takes more, gentler steps than the label
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(150):
        loss = model(input_ids=torch.tensor([ids]), labels=torch.tensor([labels])).loss
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    enc = encode_prompt(tok, "r1", prompt_chat(task, rec["text"]), task.labels)
    assert task.labels[argmax(score_labels(model, enc))] == "용접 불량"
    ans = generate_label(model, tok, enc, task.labels, default_max_new_tokens(enc))
    assert ans.text == "용접 불량" and ans.label == task.labels.index("용접 불량")
