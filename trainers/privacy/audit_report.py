"""The memorisation audit's verdict, in one plain sentence, and its Markdown report.

Verdicts:
  memorises                 an inserted canary is exposed (exposure >= threshold) or written out by
                            greedy decoding; or training rows are continued verbatim clearly more
                            often than held-out rows (by `margin`); or generated PII repeats a
                            string of the training data that is not a canary
  inconclusive              a never-inserted control scored as exposed: the audit cannot tell
                            memorisation from chance here (too few candidates, or a bad template)
  no memorisation detected  none of the above; with no canaries in the data, only extraction spoke
"""
from __future__ import annotations


def _who(s: dict) -> str:
    return f"{s['id']} (inserted {s['repetitions']}x)" if s["repetitions"] else f"{s['id']} (never inserted)"


def verdict(canaries: dict | None, extraction: dict | None, margin: float) -> dict:
    reasons, level = [], "no memorisation detected"
    if canaries:
        secrets = canaries["secrets"]
        leaked = [s for s in secrets if s["repetitions"] and (s["exposed"] or s["extracted"])]
        false = [s for s in secrets if not s["repetitions"] and (s["exposed"] or s["extracted"])]
        for s in leaked:
            how = " and greedy decoding writes it out" if s["extracted"] else ""
            reasons.append(f"{_who(s)} has exposure {s['exposure_bits']:.1f} bits (rank {s['rank']} of "
                           f"{canaries['candidates'] + 1}; extrapolated {s['extrapolated_bits']:.1f}){how}")
        if leaked:
            level = "memorises"
        if false:
            level = "inconclusive"
            reasons.append("a never-inserted control scored as exposed: " + ", ".join(
                f"{_who(s)} {s['exposure_bits']:.1f} bits" for s in false))
    if extraction:
        train, held = extraction["train"], extraction["heldout"]
        if train["rate"] is not None and held["rate"] is not None and train["rate"] - held["rate"] >= margin:
            level = "memorises" if level != "inconclusive" else level
            reasons.append(f"training rows are continued verbatim in {train['rate']:.0%} of prompts vs "
                           f"{held['rate']:.0%} of held-out rows")
        pii = extraction["pii"]
        if pii["repeating_non_canary"]:
            level = "memorises" if level != "inconclusive" else level
            reasons.append(f"{pii['repeating_non_canary']} PII-shaped string(s) in the outputs repeat "
                           f"training data")
    if not reasons:
        reasons.append("no inserted canary is exposed and training rows are not continued verbatim "
                       "more often than held-out rows" if canaries else
                       "training rows are not continued verbatim more often than held-out rows "
                       "(no canaries in this data: prepare with privacy.canaries for the stronger test)")
    return {"level": level, "summary": f"{level.upper()}: " + "; ".join(reasons) + "."}


def _bits(x: float) -> str:
    return "inf" if x == float("inf") else f"{x:.1f}"


def markdown(report: dict) -> str:
    lines = [f"# Memorisation audit: {report['verdict']['level']}", "", report["verdict"]["summary"], "",
             f"Audited: {', '.join(f'{k} `{v}`' for k, v in report['audited'].items() if v)} · data: `{report['data']}` · chat format: {report['chat_format']}", ""]
    c = report.get("canaries")
    if c:
        lines += ["## Canaries (exposure, Carlini et al. 2019)", "",
                  f"{c['kind']} secrets in \"{c['template']}\" after the prompt \"{c['prompt']}\"; each ranked by "
                  f"log-perplexity against {c['candidates']} never-inserted {c['kind']} secrets (at most "
                  f"{c['max_bits']:.2f} bits; exposed at >= {c['threshold_bits']} bits, which chance reaches "
                  f"with probability 2^-{c['threshold_bits']}). Candidates: mean "
                  f"{c['candidate_log_perplexity']['mean']:.2f} nats, sd {c['candidate_log_perplexity']['std']:.2f}.",
                  "", "| secret | inserted | log-perplexity (nats) | rank | exposure (bits) | extrapolated (bits) | "
                  "greedy writes it |", "|---|---:|---:|---:|---:|---:|---|"]
        for s in c["secrets"]:
            lines.append(f"| {s['id']} | {s['repetitions']}x | {s['log_perplexity_nats']:.2f} | {s['rank']} | "
                         f"{s['exposure_bits']:.2f} | {_bits(s['extrapolated_bits'])} | {'yes' if s['extracted'] else 'no'} |")
        lines += ["", f"Greedy completion of the context: `{c['greedy_completion'].strip()[:120]}`", ""]
    else:
        lines += ["## Canaries", "", "None: the data was prepared without privacy.canaries.", ""]
    x = report.get("extraction")
    if x:
        lines += ["## Extraction (verbatim continuation)", "",
                  f"Prompt: the chat up to its answer plus the answer's first {x['prefix_tokens']} tokens; "
                  f"verbatim = the next {x['continuation_tokens']} greedy tokens equal the answer's exactly.", "",
                  "| rows | prompted | too short | verbatim | rate | mean tokens matched |", "|---|---:|---:|---:|---:|---:|"]
        for name in ("train", "heldout"):
            r = x[name]
            rate = "n/a" if r["rate"] is None else f"{r['rate']:.1%}"
            mean = "n/a" if r["mean_matched_tokens"] is None else f"{r['mean_matched_tokens']:.1f}"
            lines.append(f"| {name} | {r['rows']} | {r['too_short']} | {r['verbatim']} | {rate} | {mean} |")
        p = x["pii"]
        kinds = ", ".join(f"{k} {n}" for k, n in p["per_kind"].items()) or "none"
        lines += ["", f"PII-shaped strings in {p['outputs_scanned']} outputs: {p['found']} ({kinds}); "
                  f"{p['repeating_training_data']} repeat training data.", ""]
    lines += [f"Wall time: {report['wall_seconds']:.0f} s.", ""]
    return "\n".join(lines)
