"""Write a synthetic data set: train.jsonl, test.jsonl, then datacard.json.

The datacard is written last (atomically, by data_tools.datacard), so its presence means the set
is complete; an old datacard is removed first so a crash mid-write cannot leave one behind that
vouches for half-written files.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from ..datacard import DATACARD, describe_output, versions, write_datacard
from ..errors import DataError
from .core import SPLITS
from .generator import domain_tasks, generate


def split_counts(n: int, test_fraction: float) -> tuple[int, int]:
    """(train, test) row counts; a non-zero fraction always gives the test split at least one row."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise DataError(f"synth: n must be a positive integer, got {n!r}")
    if not isinstance(test_fraction, (int, float)) or not 0 <= test_fraction < 1:
        raise DataError(f"synth: test_fraction must be in [0, 1), got {test_fraction!r}")
    n_test = round(n * test_fraction)
    if test_fraction > 0:
        if n < 2:
            raise DataError(f"synth: n={n} is too small to split; ask for at least 2 rows")
        n_test = min(max(n_test, 1), n - 1)
    return n - n_test, n_test


def write_synth(domain: str, n: int, out_dir, seed: int = 0, test_fraction: float = 0.2) -> dict:
    """Generate n rows split by template into out_dir; returns the datacard written there."""
    tasks = domain_tasks(domain)
    n_train, n_test = split_counts(n, test_fraction)
    rows = {"train": generate(domain, n_train, seed, "train"),
            "test": generate(domain, n_test, seed, "test")}

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / DATACARD).unlink(missing_ok=True)
    files = {}
    for split in SPLITS:
        path = out / f"{split}.jsonl"
        path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows[split]),
                        encoding="utf-8", newline="\n")
        files[path.name] = describe_output(path)

    card = {
        "kind": "kdtune.synth",
        "domain": domain,
        "seed": seed,
        "test_fraction": test_fraction,
        "counts": {"train": n_train, "test": n_test, "total": n_train + n_test},
        "tasks": {t.name: {s: sum(r["meta"]["task"] == t.name for r in rows[s]) for s in SPLITS}
                  for t in tasks},
        # Every declared template per split with its row count (0 included), so a reader can see
        # that the two splits share no wording.
        "templates": {s: _template_counts(tasks, s, rows[s]) for s in SPLITS},
        "files": files,
        "versions": versions(),
    }
    write_datacard(out, card)
    return card


def _template_counts(tasks, split: str, rows: list[dict]) -> dict[str, int]:
    used = Counter(r["meta"]["template_id"] for r in rows)
    return {t.id: used[t.id] for task in tasks for t in task.templates_for(split)}
