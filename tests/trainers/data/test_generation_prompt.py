"""One renderer for training and inference: the generation prompt of a chat is token for token the
training rendering of the same chat up to its answer, in every format; the exported chat template
renders the same text; eval and trace generation ask exactly that prompt and stop at the format's
stop tokens (checked against a naive greedy loop on a tiny model).

Run: OMP_NUM_THREADS=1 python -m pytest tests/trainers/data/test_generation_prompt.py -q
"""
import copy

import pytest
import torch

from trainers.data.chat_format import IGNORE, generation_prompt, stop_tokens, tokenize_chat
from trainers.models.tiny_model import ensure_tiny_model

SYSTEM = {"role": "system", "content": "당신은 세무 상담사입니다."}
Q1 = {"role": "user", "content": "부가세는 얼마인가요?"}
A1 = {"role": "assistant", "content": "정답: 1,000원"}                       # no reasoning
Q2 = {"role": "user", "content": "합계는요?"}
A2 = {"role": "assistant", "content": "<think>\n10000 + 1000\n</think>\n\n11,000원"}
CHATS = [[Q1, A1], [Q1, A2], [SYSTEM, Q1, A1, Q2, A2], [Q1, A2, Q2, A1]]
FORMATS = ["r1", "chatml", "llama3", "gemma", "plain", "template"]


def load(arch):
    from trainers.models.model_builder import tokenizer_loader
    path = str(ensure_tiny_model(arch))
    return tokenizer_loader(path).from_pretrained(path)


@pytest.fixture(scope="module")
def toks():
    return {"qwen2": load("qwen2"), "gemma3": load("gemma3")}


def tok_for(toks, fmt):
    return toks["gemma3" if fmt == "gemma" else "qwen2"]


def answer_start(labels):
    """First position of the last run of trained tokens (the last answer)."""
    end = max(i for i, lab in enumerate(labels) if lab != IGNORE)
    while end > 0 and labels[end - 1] != IGNORE:
        end -= 1
    return end


@pytest.mark.parametrize("fmt", FORMATS)
def test_generation_prompt_is_the_training_rendering_up_to_the_answer(toks, fmt):
    tok = tok_for(toks, fmt)
    for chat in CHATS:
        ids, labels = tokenize_chat(chat, tok, fmt, 4096)
        prompt = generation_prompt(chat[:-1], tok, fmt)
        assert prompt == ids[:len(prompt)], (fmt, chat)
        # the answer starts right there (R1 without reasoning: with the trained empty think block)
        assert answer_start(labels) == len(prompt), (fmt, chat)
    # a template tokenizer: the tiny one ships the R1 template, the gemma one Gemma's
    if fmt == "template":
        assert generation_prompt([Q1], toks["gemma3"], "template") == generation_prompt([Q1], toks["gemma3"], "gemma")


def test_prompts_follow_deepseek_and_inject_no_system_turn(toks):
    tok = toks["qwen2"]
    text = tok.decode(generation_prompt([Q1], tok, "r1"), skip_special_tokens=False)
    assert text == tok.bos_token + "<｜User｜>" + Q1["content"] + "<｜Assistant｜><think>\n"
    text = tok.decode(generation_prompt([Q1], tok, "chatml"), skip_special_tokens=False)
    assert text == "<|im_start|>user\n" + Q1["content"] + "<|im_end|>\n<|im_start|>assistant\n"
    # history keeps only the answer after </think>, as R1 sees earlier turns
    text = tok.decode(generation_prompt([Q1, A2, Q2], tok, "r1"), skip_special_tokens=False)
    assert "<｜Assistant｜>11,000원" + tok.eos_token in text and "10000 + 1000" not in text


def test_stop_tokens_are_the_formats_end_of_turn(toks):
    qwen, gemma = toks["qwen2"], toks["gemma3"]
    assert stop_tokens(qwen, "r1").ids == (qwen.eos_token_id,)
    assert stop_tokens(qwen, "template").text == qwen.eos_token      # the R1 template ends turns with eos
    g = stop_tokens(gemma, "gemma")
    assert set(g.ids) == {gemma.eos_token_id, gemma.convert_tokens_to_ids("<end_of_turn>")}
    assert stop_tokens(qwen, "plain").text == "\n"


@pytest.mark.parametrize("fmt", ["r1", "chatml", "llama3", "gemma", "plain"])
def test_exported_chat_template_renders_the_same_text(toks, fmt, tmp_path):
    from transformers import AutoTokenizer
    from trainers.data.chat_templates import export_chat_format, saved_chat_format
    tok = copy.copy(tok_for(toks, fmt))
    tok.save_pretrained(tmp_path)
    export_chat_format(tmp_path, tok, fmt)
    assert saved_chat_format(tmp_path) == fmt
    exported = AutoTokenizer.from_pretrained(tmp_path)
    for chat in CHATS[:3] if fmt == "gemma" else CHATS:   # Gemma's own template keeps history think blocks
        ids, _ = tokenize_chat(chat, tok, fmt, 4096)
        assert exported.apply_chat_template(chat, tokenize=False) == tok.decode(ids, skip_special_tokens=False)
        prompt = exported.apply_chat_template(chat[:-1], tokenize=False, add_generation_prompt=True)
        assert prompt == tok.decode(generation_prompt(chat[:-1], tok, fmt), skip_special_tokens=False)


def naive_greedy(model, prompt, stops, max_new):
    """Full forward per token, no cache, no padding: the reference the batched function must equal."""
    seq = list(prompt)
    for _ in range(max_new):
        nxt = int(model(input_ids=torch.tensor([seq])).logits[0, -1].argmax())
        seq.append(nxt)
        if nxt in stops:
            break
    return seq[len(prompt):]


def test_eval_and_traces_generate_from_the_training_prompt(toks, tmp_path):
    from transformers import AutoModelForCausalLM
    from recipes.traces import run_shard
    from trainers.config.distill import TracesConfig
    from trainers.evaluation.generation import generate
    from trainers.distill.trace_generate import HFGenerator
    from trainers.distill.trace_prompts import read_prompts
    tok = toks["qwen2"]
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_pretrained(ensure_tiny_model("qwen2")).eval()
    chats = [[Q1], [SYSTEM, Q1, A1, Q2], [{"role": "user", "content": "이자 5%면 1년 뒤 원리금은 얼마인가요?"}]]
    stops = stop_tokens(tok, "r1")
    gens = generate(model, tok, chats, "r1", batch_size=3, max_new_tokens=8, temperature=0.0)
    for chat, g in zip(chats, gens):   # left-padded batch of different lengths == one prompt at a time
        prompt = generation_prompt(chat, tok, "r1")
        new = naive_greedy(model, prompt, stops.ids, 8)
        assert g.prompt_tokens == len(prompt) and g.new_tokens == len(new)
        body = new[:-1] if new[-1] in stops.ids else new
        assert g.text == "<think>\n" + tok.decode(body, skip_special_tokens=False)

    prompts, _, _ = read_prompts("synth:finance:3", seed=0)
    cfg = TracesConfig(teacher={"path": "tiny:qwen2"}, data={"path": "synth:finance:3"},
                       output={"dir": str(tmp_path)},
                       generation={"samples_per_prompt": 2, "max_new_tokens": 6, "temperature": 0.0})
    gen = HFGenerator(model, tok, cfg.generation, torch.device("cpu"), "r1")
    _, stats = run_shard(cfg, gen, prompts, seed=3)
    lens = [len(generation_prompt(p.messages, tok, "r1")) for p in prompts]
    assert stats["prompt_tokens"] == 2 * sum(lens)
    expected = [len(naive_greedy(model, generation_prompt(p.messages, tok, "r1"), stops.ids, 6)) for p in prompts]
    assert stats["tokens_generated"] == 2 * sum(expected)
