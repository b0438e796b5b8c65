"""Config of the audit recipe (`kdtune audit memorization`): what to audit (a run directory, or a
model + adapter), on which prepared data, and how hard to look.

    kdtune audit memorization run=runs/finance-20261201-101500
    kdtune audit memorization run=RUN canaries.candidates=5000 extraction.rows=200

The model, adapter and data default to what the run trained on (its config's data.path, which must
be a `kdtune data prepare` directory: train.jsonl, eval.jsonl and, with privacy.canaries, canaries.json).
"""
from __future__ import annotations

import math
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from trainers.config.sections import ModelSection, OutputSection, Section


class CanaryAuditSection(Section):
    enabled: bool = Field(True, description="Score the data's canaries (skipped when it has none).")
    candidates: int = Field(1000, ge=15, le=1_000_000, description="Never-inserted secrets of the same format "
                            "each canary is ranked against; exposure is at most log2(candidates + 1) bits "
                            "(1000: 9.97). Cost on CPU, Gemma 3 270M, 1 thread: ~0.1 s per phone secret, "
                            "~0.2 s per resident number.")
    batch_size: int = Field(16, ge=1, description="Secrets per forward pass after the shared context.")
    threshold_bits: float = Field(8.0, gt=0, description="A canary at or above this exposure is exposed; "
                                  "an unseen secret gets there with probability 2^-threshold.")
    seed: int = Field(0, description="Seed of the candidate draw.")

    @model_validator(mode="after")
    def _reachable(self) -> "CanaryAuditSection":
        if self.enabled and math.log2(self.candidates + 1) < self.threshold_bits:
            raise ValueError(f"{self.candidates} candidates give at most {math.log2(self.candidates + 1):.2f} "
                             f"bits of exposure, below threshold_bits={self.threshold_bits}: raise candidates "
                             f"to at least {2 ** math.ceil(self.threshold_bits) - 1} or lower the threshold")
        return self


class ExtractionSection(Section):
    enabled: bool = True
    rows: int = Field(32, ge=1, description="Training rows prompted (and as many held-out rows).")
    prefix_tokens: int = Field(8, ge=0, description="Answer tokens given after the prompt.")
    continuation_tokens: int = Field(16, ge=1, description="N: a row is verbatim when the next N greedy "
                                     "tokens equal the answer's exactly.")
    batch_size: int = Field(8, ge=1)
    margin: float = Field(0.1, ge=0, le=1, description="Verbatim rate on training rows above the held-out "
                          "rate by this much counts as memorisation.")
    seed: int = 0


class AuditConfig(BaseModel):
    """Audit a trained model for memorisation: canary exposure and verbatim extraction."""
    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    recipe: Literal["audit"] = "audit"
    description: str = ""
    run: str | None = Field(None, description="A finished run directory: its config gives the model and "
                            "the data, its adapter/ or model/ the weights; the report is written into it.")
    model: ModelSection | None = Field(None, description="The base model, when not auditing a run.")
    adapter: str | None = Field(None, description="PEFT adapter directory to load on top of `model`.")
    data: str | None = Field(None, description="The prepared data directory the model was trained on "
                             "(default: the run's data.path).")
    canaries: CanaryAuditSection = Field(default_factory=CanaryAuditSection)
    extraction: ExtractionSection = Field(default_factory=ExtractionSection)
    report: str = Field("memorization", pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$",
                        description="File stem of the report: <report>.json and <report>.md.")
    output: OutputSection = Field(default_factory=OutputSection)

    @model_validator(mode="after")
    def _one_model(self) -> "AuditConfig":
        if self.run is not None and (self.model is not None or self.adapter is not None):
            raise ValueError("`run` already names the model and its weights; drop model/adapter")
        if self.adapter is not None and self.model is None:
            raise ValueError("`adapter` needs model.path (the base it was trained on)")
        return self
