"""The supervised fine-tuning config: the shared sections, and the rules that tie them together.
Distillation configs extend it (trainers/config/distill.py)."""
from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

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
