"""Turn tasks into chat records: question from a template, `<think>` reasoning, final `정답:` line.

Rows cycle through the domain's tasks so every task gets the same share; the template and the
numbers come from one RNG seeded by (domain, seed, split), so the same call always returns the
same rows and the train and test calls draw different numbers.
"""

from __future__ import annotations

import random

from ..errors import DataError
from . import finance, healthcare, manufacturing
from .core import SPLITS, Task, answer_text

_TASKS_BY_DOMAIN: dict[str, tuple[Task, ...]] = {
    "manufacturing": manufacturing.TASKS,
    "finance": finance.TASKS,
    "healthcare": healthcare.TASKS,
}
DOMAINS = tuple(_TASKS_BY_DOMAIN)
TASKS = {domain: tuple(t.name for t in tasks) for domain, tasks in _TASKS_BY_DOMAIN.items()}

# Redraws allowed when a question comes out word-for-word the same as an earlier row; parameter
# spaces are large, so hitting this means n is far beyond what the templates can vary.
_MAX_REDRAWS = 200


def domain_tasks(domain: str) -> tuple[Task, ...]:
    if domain not in _TASKS_BY_DOMAIN:
        raise DataError(f"unknown synth domain {domain!r}; valid domains: {', '.join(DOMAINS)}")
    return _TASKS_BY_DOMAIN[domain]


def generate(domain: str, n: int, seed: int = 0, split: str | None = None) -> list[dict]:
    """n records for `domain`; split 'train' or 'test' draws only that split's templates, None both."""
    tasks = domain_tasks(domain)
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        raise DataError(f"synth: n must be a non-negative integer, got {n!r}")
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise DataError(f"synth: seed must be an integer, got {seed!r}")
    if split is not None and split not in SPLITS:
        raise DataError(f"synth: split must be one of {', '.join(SPLITS)} or None, got {split!r}")
    # A string seed is hashed with SHA-512 by random.Random, so it is stable across processes.
    rng = random.Random(f"kdtune.synth:{domain}:{seed}:{split or 'all'}")
    seen: set[str] = set()
    return [_record(tasks[i % len(tasks)], split, rng, seen) for i in range(n)]


def _record(task: Task, split: str | None, rng: random.Random, seen: set[str]) -> dict:
    choices = task.templates_for(split)
    for _ in range(_MAX_REDRAWS):
        template = rng.choice(choices)
        params = task.sample(rng)
        question = template.render(params)
        if question not in seen:
            break
    else:
        raise DataError(f"synth: {task.domain}.{task.name} ran out of distinct questions; ask for fewer rows")
    seen.add(question)
    solution = task.solve(params)
    steps = ([template.note(params)] if template.note else []) + list(solution.steps)
    reasoning = "\n".join(steps)
    return {
        "messages": [
            {"role": "user", "content": question},
            {"role": "assistant",
             "content": f"<think>\n{reasoning}\n</think>\n\n정답: {answer_text(solution)}"},
        ],
        "meta": {
            "domain": task.domain, "task": task.name, "template_id": template.id,
            "split": template.split, "answer": float(solution.answer), "unit": solution.unit,
            "tolerance": solution.tolerance, "params": dict(params),
        },
    }
