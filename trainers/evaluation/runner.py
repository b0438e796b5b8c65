"""Run one benchmark on one loaded model: score or generate, grade, summarise, meter -> eval.json body.

FLOPs are counted from the architecture as trainers.compute.flops defines them, for the work the model
needs (padding is not counted):
* MCQA: every (prompt + option) sequence runs through the blocks (2·N_blocks + 4·L·H·Q·T per token,
  T its length), and the output head only at the option's positions (score_choices keeps just those
  logits);
* generation: `generation_flops` per sequence (prefill + KV-cached decode);
* an unmerged LoRA adapter adds its forward cost on every token it sees.
"""
from __future__ import annotations

from trainers.compute.compute_meter import ComputeMeter
from trainers.data.chat_format import sampling_defaults
from trainers.evaluation.accuracy import ItemResult, summarize
from trainers.evaluation.answers import extract_answer, is_correct
from trainers.evaluation.datasets import Benchmark
from trainers.evaluation.generation import generate
from trainers.evaluation.language import language_report
from trainers.evaluation.mcqa import LAYOUTS, build_prompts, continuations, encode_pair, predictions, score_choices
from trainers.compute.flops import (attention_forward_flops_per_token, block_matmul_params, generation_flops,
                            lm_head_params)
from trainers.compute.metering import arch_of, forward_only_breakdown


def adapter_forward(model) -> int:
    """Per-token forward FLOPs of the unmerged LoRA adapters on `model` (0 without any): 2·r·(in+out)
    for each adapted linear, read from the loaded modules themselves, so a layer subset or a
    saved target list in any spelling is counted as it really runs."""
    flops = 0
    for module in model.modules():
        ranks = getattr(module, "r", None)
        if isinstance(ranks, dict) and hasattr(module, "lora_A") and not getattr(module, "merged", False):
            for name in getattr(module, "active_adapters", list(ranks)):
                if name in module.lora_A:
                    flops += 2 * ranks[name] * (module.in_features + module.out_features)
    return flops


def mcqa_flops(model, tokenizer, prompts, conts) -> tuple[int, int, list[list[int]]]:
    """-> (FLOPs, tokens, continuation lengths per option) of scoring every option (module docstring)."""
    arch = arch_of(model)
    block, head, adapter = 2 * block_matmul_params(arch), 2 * lm_head_params(arch), adapter_forward(model)
    flops = tokens = 0
    lengths = []
    for p, cs in zip(prompts, conts):
        lengths.append([])
        for c in cs:
            ctx, cont = encode_pair(tokenizer, p, c)
            t = len(ctx) + len(cont)
            flops += t * (block + adapter + attention_forward_flops_per_token(arch, t)) + len(cont) * head
            tokens += t
            lengths[-1].append(len(cont))
    return flops, tokens, lengths


def run_mcqa(model, tokenizer, bench: Benchmark, spec, fmt: str | None = None) -> tuple[list[ItemResult], dict, int, int]:
    prompts = build_prompts(bench.items, bench.layout, spec.k_shot, bench.dev_pool, seed=spec.seed)
    conts = [continuations(r, bench.layout, spec.target) for r in bench.items]
    scores = score_choices(model, tokenizer, prompts, conts, batch_size=spec.batch_size, padding_side="left")
    flops, tokens, lengths = mcqa_flops(model, tokenizer, prompts, conts)
    if spec.length_norm:   # mean log-likelihood per token: option texts of different lengths compete fairly
        scores = [[v / n for v, n in zip(s, ns)] for s, ns in zip(scores, lengths)]
    preds = predictions(scores)
    results = [ItemResult(str(r["id"]), str(r.get("Category") or r.get("subject") or "all"),
                          p == int(r["answer"])) for r, p in zip(bench.items, preds)]
    examples = [{"id": r["id"], "gold": int(r["answer"]), "predicted": p, "scores": s}
                for r, p, s in list(zip(bench.items, preds, scores))[:spec.keep_outputs]]
    language = {"skipped": "MCQA scores given options; there is no free text to check"}
    return results, {"language": language, "examples": examples}, flops, tokens


def sampling(spec, fmt: str) -> dict:
    """The config's temperature / top-p, or the chat format's defaults where it leaves them unset
    (R1: 0.6 / 0.95, DeepSeek's usage notes; greedy otherwise)."""
    defaults = sampling_defaults(fmt)
    return {"temperature": defaults["temperature"] if spec.temperature is None else spec.temperature,
            "top_p": defaults["top_p"] if spec.top_p is None else spec.top_p}


def run_generate(model, tokenizer, bench: Benchmark, spec, fmt: str) -> tuple[list[ItemResult], dict, int, int]:
    samp = sampling(spec, fmt)
    gens = generate(model, tokenizer, [it["messages"] for it in bench.items], fmt, spec.batch_size,
                    spec.max_new_tokens, samp["temperature"], samp["top_p"], spec.seed)
    arch, adapter = arch_of(model), adapter_forward(model)
    results, examples, flops, tokens = [], [], 0, 0
    for it, g in zip(bench.items, gens):
        got = extract_answer(g.text, it["kind"])
        ok = is_correct(got, it["gold"], it["kind"], rel_tol=it["rel_tol"])
        results.append(ItemResult(it["id"], it["category"], ok, got.found))
        flops += generation_flops(arch, g.prompt_tokens, g.new_tokens) + \
            adapter * (g.prompt_tokens + max(g.new_tokens - 1, 0))
        tokens += g.new_tokens
        if len(examples) < spec.keep_outputs:
            examples.append({"id": it["id"], "gold": it["gold"], "extracted": got.value, "found": got.found,
                             "source": got.source, "correct": ok, "output": g.text[-600:]})
    language = language_report([g.text for g in gens], spec.min_hangul)
    return results, {"language": language, "examples": examples, "chat_format": fmt, "sampling": samp,
                     "generated_tokens": tokens, "truncated": sum(g.new_tokens >= spec.max_new_tokens
                                                                  for g in gens)}, flops, tokens


def evaluate_benchmark(model, tokenizer, bench: Benchmark, spec, profile: dict, price: float | None,
                       device: str, fmt: str | None = None) -> dict:
    """The eval.json body (without the description of what was evaluated). `fmt`, the chat format
    the model was trained with, renders generation prompts; MCQA scores KMMLU's plain-text layout."""
    if bench.mode != "mcqa" and fmt is None:
        raise ValueError("generative evaluation needs the model's chat format")
    meter = ComputeMeter(forward_only_breakdown(0, "eval"), profile, price, device, phase="eval")
    meter.start()
    run = run_mcqa if bench.mode == "mcqa" else run_generate
    results, extra, flops, tokens = run(model, tokenizer, bench, spec, fmt)
    meter.add_tokens(tokens, extra_flops=flops)   # FLOPs vary per sequence: all counted as extra
    meter.pause()
    summary = summarize(results, spec.interval, spec.seed)
    compute = meter.snapshot()
    compute.pop("flops_per_token")
    mcqa = bench.mode == "mcqa"
    return {"dataset": bench.source, "mode": bench.mode, "layout": bench.layout if mcqa else None,
            "k_shot": spec.k_shot if mcqa else None, "target": spec.target if mcqa else None,
            "length_norm": spec.length_norm if mcqa else None,
            "chance": 1 / len(LAYOUTS[bench.layout].letters) if mcqa else None, **summary,
            "accuracy": summary["overall"]["accuracy"], "ci95": summary["overall"]["ci95"],
            "n": summary["overall"]["n"], "missing": summary["overall"]["missing"], **extra, "compute": compute}
