"""Live progress: a tqdm bar on a terminal, plain log lines otherwise (CI, SLURM logs)."""
from __future__ import annotations

import sys
import time


class Progress:
    def __init__(self, total: int, start: int, enabled: bool, every: int = 1, desc: str = "train"):
        self.total, self.enabled, self.t0, self.start, self.every = total, enabled, time.time(), start, every
        self.bar = None
        if enabled and sys.stderr.isatty():
            from tqdm import tqdm
            self.bar = tqdm(total=total, initial=start, desc=desc, dynamic_ncols=True)

    def update(self, step: int, row: dict) -> None:
        if not self.enabled:
            return
        shown = {"loss": f"{row['loss']:.4f}", "lr": f"{row['lr']:.2e}",
                 "tok/s": f"{row['tokens_per_s']:.0f}"}
        if row.get("mfu") is not None:
            shown["mfu"] = f"{row['mfu']:.1%}"
        if self.bar is not None:
            self.bar.set_postfix(shown, refresh=False)
            self.bar.update(1)
            return
        if step % self.every and step != self.total:
            return
        done = step - self.start
        eta = (time.time() - self.t0) / max(done, 1) * (self.total - step)
        print(f"step {step}/{self.total} " + " ".join(f"{k}={v}" for k, v in shown.items())
              + f" eta={eta:.0f}s", file=sys.stderr, flush=True)

    def note(self, text: str) -> None:
        if self.enabled:
            (self.bar.write if self.bar is not None else lambda t: print(t, file=sys.stderr, flush=True))(text)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
