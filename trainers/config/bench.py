"""Config of the bench recipe: a matrix of arms trained from one config and scored on one benchmark.

The benchmark is the eval recipe's own: an `eval:` section (MCQA / generative sets) or `classify:` +
`data:` (a domain classification task on {"text", "label"} rows). An arm's `eval_overrides` are dotted
keys on its eval config (e.g. {classify.k_shot: 4}), so "base zero-shot" and "base 4-shot" are two
base_only arms; every arm's eval config is validated when the bench config loads, so a typo in one
fails before the first arm trains."""
from __future__ import annotations

import difflib
import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from trainers.config.eval import BenchmarkSection, ClassifySection, ClsDataSection
from trainers.config.sections import ComputeSection, OutputSection, Section


class ArmSection(Section):
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$", description="Arm name; also its run "
                      "directory name under the bench directory.")
    recipe: str = Field("sft", description="Training recipe of this arm (sft, distill, …).")
    config: str | None = Field(None, description="Training config of this arm; default the bench's "
                               "train_config.")
    overrides: dict[str, Any] = Field(default_factory=dict, description="Dotted keys set on the training "
                                      "config, e.g. {lora.r: 64, quant.load_in_4bit: true}.")
    base_only: bool = Field(False, description="No training: evaluate the training config's base model.")
    eval_overrides: dict[str, Any] = Field(default_factory=dict, description="Dotted keys set on this arm's "
                                           "eval config, e.g. {classify.k_shot: 4} for a few-shot base arm.")


class TrainDataSection(Section):
    dataset: str = Field(description="synth:<domain> writes the synthetic train split (templates "
                         "disjoint from the test split) into the bench directory; anything else is "
                         "passed as data.path.")
    n: int = Field(400, ge=4, description="Synthetic training rows.")
    seed: int = 0


class BenchConfig(BaseModel):
    """Train every arm the same way, evaluate each on the same benchmark, report accuracy per compute."""
    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    recipe: Literal["bench"] = "bench"
    description: str = ""
    train_config: str = Field(description="Training config the arms start from (path or shipped name).")
    train_data: TrainDataSection | None = None
    arms: list[ArmSection] = Field(min_length=1)
    eval: BenchmarkSection | None = Field(None, description="The benchmark every arm is scored on (MCQA "
                                          "or generative); or use `classify:` + `data:`.")
    classify: ClassifySection | None = Field(None, description="A classification task every arm is "
                                             "scored on (the eval recipe's section), with `data:`.")
    data: ClsDataSection | None = Field(None, description="The classification test rows (with `classify:`).")
    compute: ComputeSection = Field(default_factory=ComputeSection)
    output: OutputSection = Field(default_factory=lambda: OutputSection(dir="runs/bench"))
    baseline: str | None = Field(None, description="Arm the gains are measured against; default the "
                                 "first base_only arm.")
    compare: list[tuple[str, str]] = Field(default_factory=list, description="Pairs of arms compared item "
                                           "by item on the eval set (both-right / only-one-right counts, "
                                           "exact McNemar p), e.g. [[student-kd, student-sft]].")

    @field_validator("arms")
    @classmethod
    def _unique_names(cls, arms: list[ArmSection]) -> list[ArmSection]:
        names = [a.name for a in arms]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"arm names must be unique (they name run directories): {dup}")
        return arms

    @model_validator(mode="after")
    def _one_benchmark(self) -> "BenchConfig":
        if (self.eval is None) == (self.classify is None):
            raise ValueError("set exactly one of `eval:` (a benchmark) or `classify:` + `data:` (a classification task)")
        if (self.classify is None) != (self.data is None):
            raise ValueError("`classify:` needs `data:` (data.path: the {text, label} test rows) and `data:` is "
                             "only used with `classify:`")
        for arm in self.arms:     # unknown or invalid eval_overrides keys fail now, not after hours of arms
            eval_settings(self, arm)
        names = [a.name for a in self.arms]
        for a, b in self.compare:
            unknown = [n for n in (a, b) if n not in names]
            if unknown:
                close = {n: difflib.get_close_matches(n, names, n=1) for n in unknown}
                hint = "; ".join(f"{n!r}" + (f" (did you mean {c[0]!r}?)" if c else "") for n, c in close.items())
                raise ValueError(f"compare: no arm named {hint}; arms: {', '.join(names)}")
            if a == b:
                raise ValueError(f"compare: [{a}, {b}] compares an arm with itself")
        if self.baseline is not None and self.baseline not in names:
            raise ValueError(f"baseline: no arm named {self.baseline!r}; arms: {', '.join(names)}")
        return self


def eval_settings(cfg: BenchConfig, arm: ArmSection) -> dict:
    """The benchmark sections of `arm`'s eval config (eval, or classify + data), its eval_overrides
    applied and checked against the eval recipe's schema -> a dict to merge into an EvalConfig."""
    from pydantic import ValidationError
    from data_tools.overrides import OverrideError, apply_override
    raw = {k: getattr(cfg, k).model_dump() for k in ("eval", "classify", "data") if getattr(cfg, k) is not None}
    present = list(raw)
    for key, value in arm.eval_overrides.items():
        try:
            apply_override(raw, f"{key}={json.dumps(value)}")
        except OverrideError as e:
            raise ValueError(f"arm {arm.name}: eval_overrides: {e}") from None
    unknown = [k for k in raw if k not in present]
    if unknown:
        raise ValueError(f"arm {arm.name}: eval_overrides may set only this bench's benchmark sections "
                         f"({', '.join(present)}); got {', '.join(unknown)}")
    sections = {"eval": BenchmarkSection, "classify": ClassifySection, "data": ClsDataSection}
    out = {}
    for key, value in raw.items():
        try:
            out[key] = sections[key].model_validate(value)
        except ValidationError as e:
            first = e.errors()[0]
            where = ".".join([key, *map(str, first["loc"])])
            hint = ""
            if first["type"] == "extra_forbidden":
                close = difflib.get_close_matches(str(first["loc"][-1]), list(sections[key].model_fields), n=1)
                hint = f" — did you mean '{key}.{close[0]}'?" if close else ""
            raise ValueError(f"arm {arm.name}: eval_overrides: '{where}': {first['msg']}{hint}") from None
    return out
