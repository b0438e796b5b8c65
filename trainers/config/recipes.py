"""One config class per recipe, composed from the shared sections.

The registry maps recipe names to config classes so `kdtune validate` can check any file whose
`recipe:` key names it. Later recipes (distill, eval, bench) add their classes here.
"""
from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from trainers.config.distill import DistillCacheConfig, DistillConfig, TracesConfig
from trainers.config.sections import (ComputeSection, DataSection, EvalSection, LoraSection,
                                      ModelSection, OutputSection, QuantSection, TrainSection)


class SFTConfig(BaseModel):
    """Supervised fine-tuning on chats: full, LoRA or QLoRA (lora.enabled + quant.load_in_4bit)."""
    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    recipe: Literal["sft"] = "sft"
    description: str = ""
    model: ModelSection
    lora: LoraSection = Field(default_factory=LoraSection)
    quant: QuantSection = Field(default_factory=QuantSection)
    data: DataSection
    train: TrainSection = Field(default_factory=TrainSection)
    eval: EvalSection = Field(default_factory=EvalSection)
    output: OutputSection = Field(default_factory=OutputSection)
    compute: ComputeSection = Field(default_factory=ComputeSection)

    @model_validator(mode="after")
    def _qlora_needs_lora(self) -> "SFTConfig":
        if self.quant.load_in_4bit and not self.lora.enabled:
            raise ValueError("quant.load_in_4bit needs lora.enabled: true (a 4-bit base cannot be "
                             "trained directly; QLoRA trains LoRA adapters on top of it)")
        return self

    @property
    def method(self) -> str:
        """full | lora | qlora — the label used in reports and FLOP counts."""
        if self.quant.load_in_4bit:
            return "qlora"
        return "lora" if self.lora.enabled else "full"


RECIPE_CONFIGS: dict[str, type[BaseModel]] = {"sft": SFTConfig, "distill": DistillConfig,
                                                "distill-cache": DistillCacheConfig, "traces": TracesConfig}
# eval and bench configs live in their own modules (imported here so one registry lists every recipe)
from trainers.config.bench import BenchConfig  # noqa: E402
from trainers.config.eval import EvalConfig  # noqa: E402
RECIPE_CONFIGS.update({"eval": EvalConfig, "bench": BenchConfig})
