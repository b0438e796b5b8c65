"""Canaries: random secrets inserted into a prepared training set, so a trained model can be audited
for memorisation (`kdtune audit memorization`; Carlini et al., "The Secret Sharer", 2019).

    privacy:
      canaries:
        repetitions: [1, 4, 32]     # one canary per entry, inserted that many times into train.jsonl
        kind: rrn                   # rrn | phone | account (data_tools.canary_secrets)
        seed: 0

Each canary is one chat row: the user turn `prompt`, the assistant turn `template` with the secret in
place of `{secret}`. All canaries share prompt and template, so the audit ranks every one of them
against one pool of never-inserted candidates in that same context. `controls` more secrets are
drawn but never inserted: a sound audit finds them unexposed.

Inserted after PII redaction, dedup and the split (a redactor would mask the secrets, dedup would
collapse the repeats), into train.jsonl only, at seeded random lines. The secrets go to
canaries.json next to the data, never into the datacard's text; the card records ids, repetition
counts, how many rows were added and the file's sha256, so `rows of train.jsonl = per_split.train +
rows_inserted` can be checked.
"""

from __future__ import annotations

import json
import os
import random
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from data_tools.atomic import atomic_write_json
from data_tools.canary_secrets import DEFAULT_TEMPLATES, draw_distinct
from data_tools.datacard import sha256_file
from data_tools.errors import DataError

CANARIES_FILE = "canaries.json"
CANARY_SOURCE = "privacy.canaries"   # meta.source of an inserted row: readers can leave them out


class CanaryConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    repetitions: list[int] = Field(default_factory=lambda: [1, 4, 16], min_length=1,
                                   description="one canary per entry, inserted that many times")
    kind: Literal["rrn", "phone", "account"] = "rrn"
    template: str | None = Field(None, description="assistant sentence holding {secret}; default per kind")
    prompt: str = Field("본인 확인을 위해 정보를 알려 주세요.", min_length=1, description="the user turn")
    controls: int = Field(1, ge=1, le=100, description="secrets drawn but never inserted")
    seed: int = 0

    @field_validator("repetitions")
    @classmethod
    def _positive(cls, value: list[int]) -> list[int]:
        if any(n < 1 for n in value):
            raise ValueError(f"every repetition count must be >= 1, got {value}")
        return value

    @field_validator("template")
    @classmethod
    def _one_slot(cls, value: str | None) -> str | None:
        if value is not None and value.count("{secret}") != 1:
            raise ValueError(f"template must hold {{secret}} exactly once, got {value!r}")
        return value

    def sentence(self) -> str:
        return self.template or DEFAULT_TEMPLATES[self.kind]


class PrivacyConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    canaries: CanaryConfig | None = Field(None, description="insert canaries for a memorisation audit")


def make_canaries(cfg: CanaryConfig) -> dict:
    """The canaries.json content: secrets drawn from the seed, canaries first, then controls."""
    rng = random.Random(f"kdtune-canaries:{cfg.seed}")   # str seeds are hashed stably across runs
    secrets = draw_distinct(cfg.kind, rng, len(cfg.repetitions) + cfg.controls)
    canaries = [{"id": f"canary-{i + 1}", "secret": s, "repetitions": n}
                for i, (s, n) in enumerate(zip(secrets, cfg.repetitions))]
    controls = [{"id": f"control-{i + 1}", "secret": s, "repetitions": 0}
                for i, s in enumerate(secrets[len(cfg.repetitions):])]
    return {"kind": cfg.kind, "prompt": cfg.prompt, "template": cfg.sentence(), "seed": cfg.seed,
            "canaries": canaries, "controls": controls}


def canary_chat(prompt: str, template: str, secret: str) -> list[dict]:
    """The chat a canary is trained as; the audit scores candidates in exactly this chat."""
    return [{"role": "user", "content": prompt}, {"role": "assistant", "content": template.replace("{secret}", secret)}]


def insert_canaries(cfg: CanaryConfig, out_dir: Path, train_rows: int, dataset_kind: str | None) -> dict:
    """Rewrite out_dir/train.jsonl with the canary rows spread through it; write canaries.json.
    Returns the datacard's `privacy.canaries` section (no secret in it)."""
    if dataset_kind != "chat":
        raise DataError(f"privacy.canaries needs a chat dataset (a secret is trained as an answer); this "
                        f"one is {dataset_kind}: remove privacy.canaries from the config")
    spec = make_canaries(cfg)
    rows = [c for c in spec["canaries"] for _ in range(c["repetitions"])]
    rng = random.Random(f"kdtune-canary-lines:{cfg.seed}")
    rng.shuffle(rows)
    total = train_rows + len(rows)
    at = set(rng.sample(range(total), len(rows)))   # output lines that hold a canary
    train, tmp = out_dir / "train.jsonl", out_dir / "train.jsonl.canaries"
    added = 0
    with open(train, encoding="utf-8") as src, open(tmp, "w", encoding="utf-8") as dst:
        for line_no in range(total):
            if line_no in at:
                canary = rows[added]
                added += 1
                record = {"messages": canary_chat(spec["prompt"], spec["template"], canary["secret"]),
                          "meta": {"source": CANARY_SOURCE, "line": added, "canary": canary["id"]}}
                dst.write(json.dumps(record, ensure_ascii=False) + "\n")
            else:
                dst.write(src.readline())
        if src.readline():   # the caller's count and the file disagree: a bug, never ship it
            raise RuntimeError(f"{train} holds more than the {train_rows} rows counted")
    os.replace(tmp, train)
    path = atomic_write_json(out_dir / CANARIES_FILE, spec)
    return {"file": CANARIES_FILE, "sha256": sha256_file(path), "kind": cfg.kind, "seed": cfg.seed,
            "rows_inserted": len(rows), "train_rows_before": train_rows, "train_rows_after": total,
            "canaries": [{"id": c["id"], "repetitions": c["repetitions"]} for c in spec["canaries"]],
            "controls": len(spec["controls"])}
