"""Config of the bench recipe: a matrix of arms trained from one config and scored on one benchmark."""
from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from trainers.config.eval import BenchmarkSection
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
    eval: BenchmarkSection
    compute: ComputeSection = Field(default_factory=ComputeSection)
    output: OutputSection = Field(default_factory=lambda: OutputSection(dir="runs/bench"))
    baseline: str | None = Field(None, description="Arm the gains are measured against; default the "
                                 "first base_only arm.")

    @field_validator("arms")
    @classmethod
    def _unique_names(cls, arms: list[ArmSection]) -> list[ArmSection]:
        names = [a.name for a in arms]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"arm names must be unique (they name run directories): {dup}")
        return arms
