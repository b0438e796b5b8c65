"""Rejection sampling with a scripted teacher: exact acceptance counts, `<think>` kept in the output
rows and in the SFT loss; prompts from synth, MCQA and chat rows; cache fingerprint checks."""
import json

import pytest

from recipes.traces import run_shard
from trainers.config.distill import TracesConfig
from trainers.distill.trace_generate import Sample
from trainers.distill.trace_prompts import read_prompts, verify


class ScriptedTeacher:
    """Returns fixed completions per prompt, in order; counts what it was asked. Its prompts are
    one id per character of an R1-like rendering (the real rendering is tested with HFGenerator)."""
    fmt = "r1"

    def __init__(self, tok, scripts):
        self.tok, self.scripts, self.calls = tok, scripts, []

    def prompt(self, messages):
        return [ord(c) for c in self.tok.apply_chat_template(messages, False, True)]

    def opens_think(self, prompt):
        return "".join(map(chr, prompt)).endswith("<think>\n")

    def __call__(self, prompts, n, seed):
        self.calls.append((len(prompts), n, seed))
        return [[Sample(t, 10, "</think>" in t) for t in self.scripts[i][:n]] for i in range(len(prompts))]


class Tok:
    chat_template = "x"

    def apply_chat_template(self, msgs, tokenize, add_generation_prompt):
        return "<｜User｜>" + msgs[-1]["content"] + "<｜Assistant｜><think>\n"


def test_rejection_sampling_counts_and_rows(tmp_path):
    prompts, skipped, _ = read_prompts("synth:finance:3", seed=0)
    assert not skipped and all(p.kind == "number" for p in prompts)
    golds = [p.gold for p in prompts]
    scripts = [
        [f"계산\n</think>\n\n정답: {golds[0]}", f"다시\n</think>\n\n정답: {golds[0]}", "</think>정답: 1"],  # 2 right
        ["</think>정답: -5", "생각 중...", f"</think>\n정답: {golds[1] * 1.5}"],                          # 0 right
        [f"</think>\n\n정답: {golds[2] * 1.001}", "x", "y"],                                           # 1 right (tolerance)
    ]
    cfg = TracesConfig(teacher={"path": "tiny:qwen2"}, data={"path": "synth:finance:3"}, output={"dir": str(tmp_path)},
                       generation={"samples_per_prompt": 3, "keep_per_prompt": 1})
    teacher = ScriptedTeacher(Tok(), scripts)
    rows, stats = run_shard(cfg, teacher, prompts, seed=7)
    assert teacher.calls == [(3, 3, 7)]
    assert stats["samples"] == 9 and stats["verified"] == 3 and stats["kept"] == 2
    assert stats["prompts_with_trace"] == 2 and stats["prompts"] == 3 and stats["tokens_generated"] == 90
    assert stats["unfinished"] == 3     # "생각 중...", "x", "y" never closed </think>
    assert [r["meta"]["source_index"] for r in rows] == [0, 2]
    for r in rows:
        trace = r["messages"][-1]["content"]
        assert trace.startswith("<think>\n") and "</think>" in trace
        assert r["messages"][0]["role"] == "user"

    cfg.generation.keep_per_prompt = 2
    rows2, stats2 = run_shard(cfg, ScriptedTeacher(Tok(), scripts), prompts, seed=7)
    assert stats2["kept"] == 3 and len(rows2) == 3


def test_trace_rows_train_with_think_in_the_loss(tmp_path):
    from trainers.data.chat_data import read_chat_file
    from trainers.config.sections import ModelSection
    from trainers.models.model_builder import load_tokenizer
    from trainers.data.sft_data import tokenize_chats
    row = {"messages": [{"role": "user", "content": "이자는?"},
                        {"role": "assistant", "content": "<think>\n1000 × 0.05 = 50\n</think>\n\n정답: 50원"}]}
    path = tmp_path / "train.jsonl"
    path.write_text(json.dumps(row, ensure_ascii=False) + "\n")
    tok = load_tokenizer(ModelSection(path="tiny:qwen2"))
    (ex,), _ = tokenize_chats(read_chat_file(path).chats, tok, "r1", 256, keep_think=True)
    trained = tok.decode([t for t in ex.labels if t != -100], skip_special_tokens=False)
    # the reasoning is in the loss; its "<think>\n" opener is the R1 generation prompt, context only
    assert trained.startswith("1000 × 0.05") and "</think>" in trained and "정답: 50원" in trained
    assert tok.decode(ex.input_ids, skip_special_tokens=False).endswith("<｜Assistant｜><think>\n" + trained)


def test_prompts_from_mcqa_and_verification():
    prompts, _, source = read_prompts("builtin:mcqa/finance", seed=0, limit=5)
    assert source.endswith("finance.jsonl") and len(prompts) == 5
    p = prompts[0]
    assert p.kind == "choice" and p.messages[0]["content"].endswith("정답：")
    letter = "ABCD"[p.gold - 1]
    assert verify(p, f"<think>\n...\n</think>\n정답: {letter}", None)[0]
    assert not verify(p, f"<think>\n...\n</think>\n정답: {'ABCD'[p.gold % 4]}", None)[0]
    assert not verify(p, f"<think>\n정답: {letter}", None)[0]     # unclosed think: no answer


def test_rows_without_gold_are_counted_and_all_missing_is_an_error(tmp_path):
    from trainers.errors import UserError
    path = tmp_path / "x.jsonl"
    good = {"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}],
            "meta": {"answer": "가나다"}}
    bad = {"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]}
    path.write_text(json.dumps(good, ensure_ascii=False) + "\n" + json.dumps(bad) + "\n")
    prompts, skipped, _ = read_prompts(str(path), seed=0)
    assert len(prompts) == 1 and prompts[0].kind == "text" and len(skipped) == 1
    path.write_text(json.dumps(bad) + "\n")
    with pytest.raises(UserError, match="gold answer"):
        read_prompts(str(path), seed=0)


def test_cache_checks_name_the_fix():
    from trainers.config import load_config
    from trainers.config.sections import ModelSection
    from trainers.distill.distill_setup import check_cache, vocab_sha256
    from trainers.errors import UserError
    from trainers.models.model_builder import load_tokenizer
    tok = load_tokenizer(ModelSection(path="tiny:qwen2"))
    cfg = load_config("smoke/tiny_distill_cached.yaml")

    class Reader:
        dir, vocab_size, temperature = "c", 2048, 2.0
        meta = {"examples_sha256": "e", "vocab_sha256": vocab_sha256(tok, 2048)}
    with pytest.raises(UserError, match="kd.temperature=2.0"):
        check_cache(Reader, cfg, tok, 2048, {"examples_sha256": "e"})
    with pytest.raises(UserError, match="other training examples"):
        check_cache(Reader, cfg, tok, 2048, {"examples_sha256": "other"})
    Reader.meta = {"examples_sha256": "e", "vocab_sha256": "x"}
    with pytest.raises(UserError, match="kdtune run traces"):
        check_cache(Reader, cfg, tok, 2048, {"examples_sha256": "e"})


def test_traces_refuses_to_mix_settings(tmp_path):
    from recipes.traces import run
    from trainers.config import load_config
    from trainers.errors import UserError
    out = tmp_path / "tr"
    cfg = load_config("smoke/tiny_traces.yaml", [f"output.dir={out}", "generation.max_new_tokens=4",
                                                 "data.path=synth:finance:4", "generation.shard_size=2"])
    run(cfg, "t")
    stats = json.loads((out / "stats.json").read_text())
    assert stats["prompts"] == 4 and stats["samples"] == 8 and stats["tokens_generated"] <= 8 * 4
    cfg.generation.max_new_tokens = 5
    with pytest.raises(UserError, match="other settings"):
        run(cfg, "t")
