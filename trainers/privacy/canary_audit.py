"""The canary half of `kdtune audit memorization`: exposure of every inserted canary and control.

canaries.json (written by `kdtune data prepare` with privacy.canaries) holds the secrets, their
repetition counts, and the prompt and template they were trained in. Here `candidates` more secrets of
the same format are drawn (never any inserted one), every secret is scored in the trained chat
(secret_scoring), and each canary and control gets its exposure against the candidates (exposure).
All secrets share one context, so one pool of candidates serves them all.

Also one greedy generation from that shared context: a canary is *extracted* when the model, asked
the context alone, writes its secret — the plainest form of the leak exposure measures.
"""
from __future__ import annotations

import math
import random
import statistics
import time

from data_tools.canaries import canary_chat
from data_tools.canary_secrets import draw_distinct, space_size
from trainers.data.chat_format import stop_tokens
from trainers.models.batched_generation import generate_batched
from trainers.privacy.exposure import exposure
from trainers.privacy.secret_scoring import rendered, score_secrets


def audit_canaries(model, tokenizer, fmt: str, spec: dict, settings) -> dict:
    t0 = time.time()
    secrets = spec["canaries"] + spec["controls"]
    inserted = {s["secret"] for s in secrets}
    rng = random.Random(f"kdtune-candidates:{settings.seed}")
    candidates = draw_distinct(spec["kind"], rng, settings.candidates, exclude=inserted)
    chats = [canary_chat(spec["prompt"], spec["template"], s) for s in candidates + [x["secret"] for x in secrets]]
    scores = score_secrets(model, tokenizer, fmt, chats, settings.batch_size)
    pool, own = scores[:len(candidates)], scores[len(candidates):]

    seqs, p, q = rendered(chats, tokenizer, fmt)
    tails = [s[p:len(s) - q] for s in seqs[len(candidates):]]
    greedy = generate_batched(model, tokenizer, [seqs[0][:p]], stop_tokens(tokenizer, fmt),
                              max(len(t) for t in tails) + 4, temperature=0.0)[0][0]
    results = []
    for secret, score, tail in zip(secrets, own, tails):
        e = exposure(score, pool)
        results.append({"id": secret["id"], "repetitions": secret["repetitions"], "secret": secret["secret"],
                        "log_perplexity_nats": score, "rank": e.rank, "exposure_bits": e.bits,
                        "extrapolated_bits": e.extrapolated_bits,
                        "exposed": e.bits >= settings.threshold_bits,
                        "extracted": list(greedy.ids[:len(tail)]) == tail})
    return {"kind": spec["kind"], "prompt": spec["prompt"], "template": spec["template"],
            "candidates": len(candidates), "max_bits": math.log2(len(pool) + 1),
            "format_space": space_size(spec["kind"]), "threshold_bits": settings.threshold_bits,
            "candidate_log_perplexity": {"mean": statistics.fmean(pool), "std": statistics.stdev(pool),
                                         "min": min(pool), "max": max(pool)},
            "greedy_completion": greedy.text, "secrets": results, "seconds": time.time() - t0,
            # the context's words and the completion together: what a PII scan must read ("010-" is context)
            "greedy_text": tokenizer.decode(seqs[0][:p] + list(greedy.ids), skip_special_tokens=True)}
