"""Config of the eval recipe: what to evaluate (a model, a model + adapter, or a run directory) on
which benchmark, and how. `BenchmarkSection` is shared with the bench recipe, which runs the same
benchmark on every arm.
"""
from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from trainers.config.sections import ComputeSection, ModelSection, OutputSection, Section


class BenchmarkSection(Section):
    dataset: str = Field(description="builtin:mcqa/<domain> (shipped KMMLU-layout MCQA), an MCQA JSONL "
                         "path (KMMLU or KorMedMCQA rows), synth:<domain> (the held-out-template test split "
                         "of the synthetic tasks, generative), synth-mcqa:<domain> (the same items as "
                         "4-option MCQA, distractors = other items' answers), or a chat JSONL whose rows "
                         "carry meta.answer (generative).")
    mode: Literal["auto", "mcqa", "generate"] = Field("auto", description="auto: mcqa for MCQA rows, "
                                                      "generate for chat/synthetic rows.")
    n: int | None = Field(None, ge=1, description="Evaluate only the first N items (synth: generate N).")
    seed: int = Field(0, description="Seed of synthetic items and of k-shot selection.")
    k_shot: int = Field(0, ge=0, le=10, description="Solved examples before each MCQA question; they come "
                        "from `dev_path`, else from the other items of the same set (never the item itself).")
    dev_path: str | None = Field(None, description="MCQA JSONL of solved items for k-shot prompts.")
    target: Literal["letter", "text"] = Field("letter", description="MCQA: score ' A' … (letter) or the "
                                              "option text after the cue.")
    length_norm: bool = Field(False, description="MCQA: compare options by mean log-likelihood per "
                              "token instead of the sum (fairer for text targets of different lengths).")
    batch_size: int = Field(8, ge=1, description="Sequences per forward pass (MCQA options / generations).")
    max_new_tokens: int = Field(512, ge=1, description="Generation budget; an answer not reached "
                                "within it counts as wrong (and as missing).")
    temperature: float = Field(0.0, ge=0.0, le=2.0, description="0: greedy; R1 distills recommend 0.6.")
    top_p: float = Field(0.95, gt=0.0, le=1.0)
    interval: Literal["wilson", "bootstrap"] = "wilson"
    min_hangul: float = Field(0.5, ge=0.0, le=1.0, description="Answers with a smaller Hangul share of "
                              "letters are counted as drifted out of Korean.")
    keep_outputs: int = Field(20, ge=0, description="Generations saved to eval.json as examples.")


class EvalConfig(BaseModel):
    """Evaluate a base model, a model + adapter, or a finished run's output on one benchmark."""
    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    recipe: Literal["eval"] = "eval"
    description: str = ""
    model: ModelSection | None = Field(None, description="The base model; not needed with `run`.")
    adapter: str | None = Field(None, description="PEFT adapter directory to load on top of `model`.")
    run: str | None = Field(None, description="A finished run directory: its config gives the model, its "
                            "adapter/ or model/ the weights, and eval.json is written into it.")
    eval: BenchmarkSection
    compute: ComputeSection = Field(default_factory=ComputeSection)
    output: OutputSection = Field(default_factory=OutputSection)

    @model_validator(mode="after")
    def _something_to_evaluate(self) -> "EvalConfig":
        if self.model is None and self.run is None:
            raise ValueError("set model.path (with an optional adapter) or run: RUN_DIR")
        if self.run is not None and self.adapter is not None:
            raise ValueError("`run` already names the adapter (RUN_DIR/adapter); drop `adapter`")
        return self
