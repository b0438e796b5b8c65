"""Does distillation beat plain SFT for a small student? A CPU experiment on synthetic domain tasks.

    OMP_NUM_THREADS=1 python benchmarks/distill_vs_sft.py                  # a few minutes on 2 CPU cores
    python benchmarks/distill_vs_sft.py --domain manufacturing --seeds 0 1 2 --student-steps 200

1. A teacher (Qwen2, hidden 128, 4 layers, random init) is trained with SFT on synthetic Korean word
   problems (`data_tools.synth`, train templates, gold `<think>` reasoning then `정답: …`).
2. A smaller student (Qwen2, hidden 64, 2 layers) is trained three ways, same examples' prompts, same
   step budget, same batch, per seed:
     sft     SFT on the gold chats;
     traces  SFT on the teacher's traces for the train prompts, rejection-sampled with the traces
             recipe's own code (only traces whose final answer verifies) — when fewer than
             --min-traces verify, every finished trace is used instead and the row says so;
     logit   DistillLoss (forward KL, T=1, ce_weight 0.5) from the live teacher on the gold chats.
   All three go through the one training loop (trainers/loop.py).
3. Held-out (test templates, other numbers): accuracy of greedy generations by answer extraction
   (`trainers.evaluation.answers`), the mean NLL of the gold final-answer tokens (`정답: …`) and of the
   whole gold response, teacher-forced. Mean ± sd over seeds.
Tiny random-init models trained for minutes rarely get multi-step arithmetic right, so accuracy may
be 0 for every arm; the NLL columns still rank the arms.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from data_tools.synth import generate  # noqa: E402
from recipes.traces import run_shard  # noqa: E402
from trainers.config.distill import TracesConfig  # noqa: E402
from trainers.config.sections import EvalSection, ModelSection, TrainSection  # noqa: E402
from trainers.data.sft_data import tokenize_chats  # noqa: E402
from trainers.distill.distill_loss import DistillLoss, LiveTeacher  # noqa: E402
from trainers.distill.trace_generate import HFGenerator  # noqa: E402
from trainers.distill.trace_prompts import Prompt, verify  # noqa: E402
from trainers.loop import train  # noqa: E402
from trainers.losses.sft_loss import SFTLoss  # noqa: E402
from trainers.models.model_builder import load_tokenizer  # noqa: E402
from trainers.run.run_dir import RunDir  # noqa: E402

TEACHER = dict(hidden_size=128, num_hidden_layers=4, num_attention_heads=4, num_key_value_heads=2,
               intermediate_size=384)
STUDENT = dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
               intermediate_size=192)
MAX_LEN = 384


def new_model(sizes: dict, tok, seed: int):
    from transformers import Qwen2Config, Qwen2ForCausalLM
    torch.manual_seed(seed)
    cfg = Qwen2Config(vocab_size=len(tok), max_position_embeddings=1024, tie_word_embeddings=False,
                      bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id,
                      pad_token_id=tok.pad_token_id, **sizes)
    return Qwen2ForCausalLM(cfg)


def fit(loss_module, model, examples, tok, steps: int, lr: float, seed: int, accelerator, workdir: Path):
    cfg = TrainSection(seed=seed, max_steps=steps, micro_batch_size=8, grad_accum=1, lr=lr, warmup_ratio=0.05,
                       gradient_checkpointing=False, save_every=0, log_every=10_000)
    run = RunDir(Path(tempfile.mkdtemp(dir=workdir)), True)
    return train(loss_module, model, examples, [], tok.pad_token_id, cfg, EvalSection(), run, accelerator,
                 progress=False)


def prompts_of(rows: list[dict]) -> list[Prompt]:
    return [Prompt(i, r["messages"][:-1], r["meta"]["answer"], "number", rel_tol=r["meta"]["tolerance"])
            for i, r in enumerate(rows)]


@torch.no_grad()
def accuracy(model, tok, rows: list[dict], max_new: int) -> float:
    gen_cfg = TracesConfig(teacher={"path": "unused"}, data={"path": "unused"}, output={"dir": "unused"},
                           generation={"temperature": 0.0, "max_new_tokens": max_new, "batch_size": 64}).generation
    gen = HFGenerator(model, tok, gen_cfg, torch.device("cpu"), "r1")
    prompts = prompts_of(rows)
    samples = gen([gen.prompt(p.messages) for p in prompts], 1, 0)
    return sum(verify(p, "<think>\n" + s[0].text, None)[0] for p, s in zip(prompts, samples)) / len(prompts)


@torch.no_grad()
def nll(model, tok, examples, rows) -> tuple[float, float]:
    """(mean NLL of the final `정답: …` tokens, mean NLL of the whole response), gold, teacher-forced."""
    model.eval()
    ans_sum = ans_n = all_sum = all_n = 0.0
    for ex, row in zip(examples, rows):
        ids = torch.tensor([ex.input_ids])
        labels = torch.tensor(ex.labels[1:])
        logits = model(input_ids=ids).logits[0, :-1]
        keep = labels != -100
        losses = F.cross_entropy(logits[keep], labels[keep], reduction="none")
        final = row["messages"][-1]["content"].rsplit("</think>", 1)[1].strip()
        n_ans = min(len(tok(final + tok.eos_token, add_special_tokens=False)["input_ids"]), losses.numel())
        ans_sum, ans_n = ans_sum + float(losses[-n_ans:].sum()), ans_n + n_ans
        all_sum, all_n = all_sum + float(losses.sum()), all_n + losses.numel()
    model.train()
    return ans_sum / ans_n, all_sum / all_n


def teacher_traces(teacher, tok, rows, samples: int, max_new: int, min_traces: int) -> tuple[list, dict]:
    cfg = TracesConfig(teacher={"path": "unused"}, data={"path": "unused"}, output={"dir": "unused"},
                       generation={"samples_per_prompt": samples, "max_new_tokens": max_new, "batch_size": 64,
                                   "keep_per_prompt": 1, "max_prompt_len": MAX_LEN})
    gen = HFGenerator(teacher, tok, cfg.generation, torch.device("cpu"), "r1")
    kept, stats = run_shard(cfg, gen, prompts_of(rows), seed=1234)
    if len(kept) >= min_traces:
        return [r["messages"] for r in kept], {**stats, "filtered": True}
    # too few verified: sequence-level KD on every finished trace (said so in the table)
    torch.manual_seed(1234)
    prompts = prompts_of(rows)
    outs = gen([gen.prompt(p.messages) for p in prompts], 1, 1234)
    chats = [p.messages + [{"role": "assistant", "content": "<think>\n" + o[0].text}]
             for p, o in zip(prompts, outs) if o[0].finished and "</think>" in o[0].text]
    return chats, {**stats, "filtered": False, "unfiltered_used": len(chats)}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--domain", default="finance", choices=["finance", "manufacturing", "healthcare"])
    ap.add_argument("--train-rows", type=int, default=320)
    ap.add_argument("--test-rows", type=int, default=48)
    ap.add_argument("--teacher-steps", type=int, default=300)
    ap.add_argument("--student-steps", type=int, default=120)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--samples", type=int, default=2, help="teacher traces per prompt")
    ap.add_argument("--max-new", type=int, default=200)
    ap.add_argument("--min-traces", type=int, default=32)
    args = ap.parse_args(argv)
    from accelerate import Accelerator
    acc = Accelerator(cpu=True)
    tok = load_tokenizer(ModelSection(path="tiny:qwen2"))
    train_rows = generate(args.domain, args.train_rows, seed=0, split="train")
    test_rows = generate(args.domain, args.test_rows, seed=1, split="test")
    gold_ex, _ = tokenize_chats([r["messages"] for r in train_rows], tok, "r1", MAX_LEN, True)
    test_ex, _ = tokenize_chats([r["messages"] for r in test_rows], tok, "r1", MAX_LEN, True)
    assert len(test_ex) == len(test_rows), "a test row lost its answer to truncation: raise MAX_LEN"
    t0 = time.time()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        teacher = new_model(TEACHER, tok, seed=100)
        fit(SFTLoss(teacher, 1024), teacher, gold_ex, tok, args.teacher_steps, 3e-3, 100, acc, work)
        teacher.eval()
        t_acc, (t_ans, t_all) = accuracy(teacher, tok, test_rows, args.max_new), nll(teacher, tok, test_ex, test_rows)
        print(f"teacher ({time.time() - t0:.0f}s): acc {t_acc:.3f} answer-NLL {t_ans:.3f} response-NLL {t_all:.3f}")
        trace_chats, tstats = teacher_traces(teacher, tok, train_rows, args.samples, args.max_new, args.min_traces)
        trace_ex, _ = tokenize_chats(trace_chats, tok, "r1", MAX_LEN, True)
        print(f"traces: {tstats['verified']}/{tstats['samples']} verified, kept {tstats['kept']}, "
              f"{'rejection-sampled' if tstats['filtered'] else f'UNFILTERED fallback: {len(trace_ex)} finished traces'}")
        results: dict[str, list] = {"sft": [], "traces": [], "logit": []}
        for seed in args.seeds:
            for arm in results:
                student = new_model(STUDENT, tok, seed=seed)
                if arm == "logit":
                    loss = DistillLoss(student, LiveTeacher(teacher), kind="forward_kl", beta=0.5, temperature=1.0,
                                       ce_weight=0.5, vocab_size=len(tok), kd_chunk_size=512, ce_chunk_size=1024)
                else:
                    loss = SFTLoss(student, 1024)
                data = trace_ex if arm == "traces" else gold_ex
                if len(data) < 8:
                    results[arm].append(None)
                    continue
                fit(loss, student, data, tok, args.student_steps, 3e-3, seed, acc, work)
                student.eval()
                row = (accuracy(student, tok, test_rows, args.max_new), *nll(student, tok, test_ex, test_rows))
                results[arm].append(row)
                print(f"seed {seed} {arm:7s} acc {row[0]:.3f} answer-NLL {row[1]:.3f} response-NLL {row[2]:.3f} "
                      f"({time.time() - t0:.0f}s)")
    print(f"\n{args.domain}: student {STUDENT['hidden_size']}x{STUDENT['num_hidden_layers']} vs teacher "
          f"{TEACHER['hidden_size']}x{TEACHER['num_hidden_layers']}, {args.student_steps} steps x 8 seqs, "
          f"seeds {args.seeds}, {len(test_rows)} held-out problems (test templates)")
    print("| arm | accuracy | answer-token NLL | response NLL |\n|---|---|---|---|")
    print(f"| teacher | {t_acc:.3f} | {t_ans:.3f} | {t_all:.3f} |")
    for arm, rows in results.items():
        rows = [r for r in rows if r is not None]
        if not rows:
            print(f"| {arm} | no data | | |")
            continue
        cells = []
        for j in range(3):
            vals = [r[j] for r in rows]
            sd = statistics.stdev(vals) if len(vals) > 1 else 0.0
            cells.append(f"{statistics.mean(vals):.3f} ± {sd:.3f}")
        print(f"| {arm} | " + " | ".join(cells) + " |")
    return results


if __name__ == "__main__":
    main()
