"""Typed config for `kdtune data prepare` (configs/data/*.yaml).

Every key is declared here with its default; an unknown key is an error that names the file,
the key path and the closest known key, because a typo that silently keeps a default (say,
`min_hangul_ration: 0.5`) would ship a dataset nobody asked for.

Paths in a config are relative to the working directory, as for `kdtune run`.
"""

from __future__ import annotations

import difflib
import os
import typing
import unicodedata
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from data_tools.canaries import PrivacyConfig
from data_tools.cls_tasks import TASKS
from data_tools.errors import DataError
from data_tools.overrides import OverrideError, apply_override
from data_tools.pii.detect import THRESHOLD as PII_THRESHOLD

# Canonical names a source column can be mapped to (`fields: {canonical: source_key}`).
CANONICAL_FIELDS = ("instruction", "input", "output", "system", "messages", "role", "content",
                    "question", "answer", "category", "choices", "A", "B", "C", "D", "E", "text", "label")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class InputConfig(Strict):
    """One source file or `datasets` directory."""
    path: str
    format: Literal["auto", "jsonl", "csv", "parquet", "hf_dir"] = "auto"
    # auto: chat if the row has messages, sharegpt if conversations (from/value), instruction if
    # instruction+output, MCQA if question+A, cls if exactly text+label (+ passthrough keys).
    adapter: Literal["auto", "instruction", "chat", "sharegpt", "kmmlu", "kormedmcqa", "mcqa", "cls"] = "auto"
    fields: dict[str, str] = Field(default_factory=dict, description="canonical name -> source key")
    roles: dict[str, str] = Field(default_factory=dict, description="source role -> system/user/assistant")
    options: list[str] | None = Field(None, description="option keys for adapter mcqa, in order")
    split: Literal["auto", "train", "eval"] = "auto"
    hf_split: str | None = Field(None, description="split to read from a DatasetDict directory")
    passthrough: list[str] = Field(default_factory=list, description="source keys copied into meta")
    system_prompt: str | None = None
    category: str = Field("", description="MCQA category when a row has none")
    # cls rows: a label outside the allow-list is quarantined (reason unknown_label).
    labels: list[str] | None = Field(None, description="allowed cls labels")
    task: str | None = Field(None, description="cls task whose labels are allowed (data_tools.cls_tasks)")

    @property
    def source_name(self) -> str:
        """How rows from this input are named in meta, quarantine and the datacard. A datasets
        directory read twice (train and test splits) needs the split to tell its rows apart."""
        return f"{self.path}#{self.hf_split}" if self.hf_split else self.path

    def allowed_labels(self) -> tuple[str, ...] | None:
        """The cls label allow-list in its given order (NFC: rows are compared after normalisation),
        or None when any label is allowed."""
        labels = TASKS[self.task].labels if self.task else self.labels
        return None if labels is None else tuple(dict.fromkeys(unicodedata.normalize("NFC", x) for x in labels))

    @field_validator("task")
    @classmethod
    def _known_task(cls, value: str | None) -> str | None:
        if value is not None and value not in TASKS:
            raise ValueError(f"unknown cls task {value!r}{_did_you_mean(value, TASKS)}; known: {', '.join(TASKS)}")
        return value

    @model_validator(mode="after")
    def _labels_for_cls_only(self) -> "InputConfig":
        if self.labels is not None and self.task is not None:
            raise ValueError("set labels or task, not both (task takes the labels from data_tools.cls_tasks)")
        if (self.labels is not None or self.task is not None) and self.adapter not in ("auto", "cls"):
            raise ValueError(f"labels/task apply to cls rows only, not to adapter {self.adapter!r}")
        return self

    @field_validator("fields")
    @classmethod
    def _known_canonical_names(cls, value: dict[str, str]) -> dict[str, str]:
        for name in value:
            if name not in CANONICAL_FIELDS:
                raise ValueError(f"unknown field name {name!r}{_did_you_mean(name, CANONICAL_FIELDS)}")
        return value

    @field_validator("roles")
    @classmethod
    def _known_roles(cls, value: dict[str, str]) -> dict[str, str]:
        for source_role, role in value.items():
            if role not in ("system", "user", "assistant"):
                raise ValueError(f"role {source_role!r} maps to {role!r}; use system, user or assistant")
        return value


class OutputConfig(Strict):
    dir: str = "data/prepared/dataset"
    eval_fraction: float = Field(0.05, ge=0.0, lt=1.0)
    seed: int = 0


class NormalizeConfig(Strict):
    # alnum: full-width letters/digits only; all: every full-width ASCII form; none: leave them.
    fullwidth: Literal["alnum", "all", "none"] = "alnum"
    # Strings kept exactly as written, e.g. the KMMLU prompt's "정답：" with its full-width colon.
    keep_literals: list[str] = Field(default_factory=list)
    control_chars: Literal["remove", "quarantine"] = "remove"
    surrogates: Literal["quarantine", "remove"] = "quarantine"


class PiiConfig(Strict):
    enabled: bool = True
    mode: Literal["mask", "pseudonymize", "drop"] = "mask"
    seed: int = 0
    redact_quarantine: bool = Field(True, description="mask PII in quarantine.jsonl raw text too")
    # Detection score a candidate needs (data_tools/pii/detect.py): lower masks more look-alikes
    # (order numbers that validate), higher misses more mistyped IDs. docs/privacy.md has the curve.
    threshold: float = Field(PII_THRESHOLD, gt=0.0, le=1.0, description="PII detection score threshold")


class QualityConfig(Strict):
    enabled: bool = True
    min_chars: int = Field(8, ge=0)
    max_chars: int = Field(32000, ge=1)
    min_hangul_ratio: float = Field(0.1, ge=0.0, le=1.0)
    max_repetition: float = Field(0.6, gt=0.0, le=1.0)
    repetition_ngram: int = Field(10, ge=2)


class DedupConfig(Strict):
    exact: bool = True
    near: bool = True
    near_threshold: float = Field(0.85, gt=0.0, lt=1.0)
    num_perm: int = Field(128, ge=16, le=1024)
    shingle: int = Field(5, ge=1, description="character n-gram size of MinHash shingles")


class ContaminationConfig(Strict):
    enabled: bool = True
    ngram: int = Field(8, ge=1, description="word n-gram size")
    threshold: float = Field(0.5, gt=0.0, le=1.0, description="share of an eval row's n-grams found in a train row")
    action: Literal["report", "remove"] = "report"


class PrepareConfig(Strict):
    name: str = "dataset"
    inputs: list[InputConfig] = Field(min_length=1)
    output: OutputConfig = Field(default_factory=OutputConfig)
    normalize: NormalizeConfig = Field(default_factory=NormalizeConfig)
    pii: PiiConfig = Field(default_factory=PiiConfig)
    quality: QualityConfig = Field(default_factory=QualityConfig)
    dedup: DedupConfig = Field(default_factory=DedupConfig)
    contamination: ContaminationConfig = Field(default_factory=ContaminationConfig)
    # canaries for `kdtune audit memorization` (data_tools/canaries.py); none unless asked for
    privacy: PrivacyConfig = Field(default_factory=PrivacyConfig)
    workers: int | None = Field(None, ge=1, description="processes for the per-row stage; null = all cores")
    chunk_size: int = Field(1000, ge=1)

    def resolved_workers(self) -> int:
        if self.workers:
            return self.workers
        # Cores this process may run on (a container or taskset can allow fewer than exist).
        if hasattr(os, "sched_getaffinity"):
            return len(os.sched_getaffinity(0))
        return os.cpu_count() or 1


def load_prepare_config(path: str | Path, overrides: list[str] = ()) -> PrepareConfig:
    """Read a YAML config, apply `dotted.key=value` overrides, and validate it."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DataError(f"{path}: config file not found") from None
    except (yaml.YAMLError, UnicodeDecodeError) as err:
        raise DataError(f"{path}: not valid YAML: {err}") from None
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise DataError(f"{path}: top level must be a mapping of keys, got {type(raw).__name__}")
    apply_overrides(raw, overrides, where=str(path))
    return validate_config(raw, where=str(path))


def default_config(inputs: list[str], out_dir: str, overrides: list[str] = ()) -> PrepareConfig:
    """The pipeline `kdtune data prepare --input FILE --out DIR` runs: all defaults."""
    raw = {"inputs": [{"path": p} for p in inputs], "output": {"dir": out_dir}}
    apply_overrides(raw, overrides, where="command line")
    return validate_config(raw, where="command line")


def validate_config(raw: dict, where: str) -> PrepareConfig:
    try:
        return PrepareConfig.model_validate(raw)
    except ValidationError as err:
        raise DataError("\n".join(f"{where}: {_describe(e)}" for e in err.errors())) from None


def apply_overrides(raw: dict, overrides: list[str], where: str) -> None:
    """`output.dir=/tmp/x`, `inputs.0.path=a.jsonl` (the grammar of data_tools.overrides)."""
    for item in overrides:
        try:
            apply_override(raw, item)
        except OverrideError as err:
            raise DataError(f"{where}: {err}") from None


def _describe(error: dict) -> str:
    loc = error["loc"]
    key = ".".join(str(p) for p in loc) or "(top level)"
    if error["type"] == "extra_forbidden":
        known = _fields_at(PrepareConfig, loc[:-1])
        return f"{key}: unknown key{_did_you_mean(str(loc[-1]), known)}"
    if error["type"] == "missing":
        return f"{key}: required key is missing"
    return f"{key}: {error['msg']} (got {error.get('input')!r})"


def _fields_at(model: type[BaseModel], loc: tuple) -> list[str]:
    """Field names of the model reached by following `loc` (list indexes are skipped)."""
    for part in loc:
        if isinstance(part, int):
            continue
        info = model.model_fields.get(part)
        nested = _model_in(info.annotation) if info else None
        if nested is None:
            return []
        model = nested
    return list(model.model_fields)


def _model_in(annotation) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in typing.get_args(annotation):
        found = _model_in(arg)
        if found is not None:
            return found
    return None


def _did_you_mean(name: str, known) -> str:
    close = difflib.get_close_matches(name, list(known), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""
