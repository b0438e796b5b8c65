"""Configs of the distillation recipes: logit distillation (`distill`), its offline teacher cache
(`distill-cache`) and trace generation with rejection sampling (`traces`).

`distill` and `distill-cache` share every section, so one YAML describes both: the cache run writes
`kd.cache_dir` from exactly the data, tokenisation and temperature the training run will read
(a `distill-cache` file is usually `recipe: distill-cache` + `base:` the distill file).
"""
from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from trainers.config.sections import ModelSection, QuantSection, Section
from trainers.config.sft import SFTConfig


class TeacherSection(ModelSection):
    """The frozen teacher: any ModelSection key, plus 4-bit loading (it is never trained, so NF4
    costs only its quantisation error)."""
    load_in_4bit: bool = Field(False, description="Load the teacher in 4-bit NF4 (bitsandbytes).")
    quant_type: Literal["nf4", "fp4"] = "nf4"

    def quant(self) -> QuantSection:
        return QuantSection(load_in_4bit=self.load_in_4bit, quant_type=self.quant_type)


class KDSection(Section):
    teacher: TeacherSection
    loss: Literal["forward_kl", "reverse_kl", "jsd"] = Field(
        "forward_kl", description="forward_kl: KL(teacher||student), mode-covering; reverse_kl: "
        "KL(student||teacher), mode-seeking; jsd: generalised Jensen-Shannon with `beta`.")
    beta: float = Field(0.5, ge=0.0, le=1.0, description="JSD mixture weight (0.5: symmetric JSD).")
    temperature: float = Field(1.0, gt=0.0, le=20.0, description="Both models' logits are divided "
                               "by it; the KD term is multiplied by temperature^2.")
    ce_weight: float = Field(0.5, ge=0.0, le=1.0, description="loss = ce_weight*CE + (1-ce_weight)*KD, "
                             "both summed over the trained tokens.")
    chunk_size: int = Field(512, ge=16, description="Trained tokens per chunk of the KD loss; extra "
                            "memory is about 5 * chunk_size * vocab fp32 values.")
    cache_dir: str | None = Field(None, description="Top-k teacher cache written by `kdtune run "
                                  "distill-cache`; null: run the teacher on the fly.")
    topk: int = Field(64, ge=1, le=4096, description="Teacher tokens kept per position in the cache.")
    restrict_topk: int | None = Field(None, ge=1, description="On the fly only: compare on the "
                                      "teacher's top-k + tail, exactly as a cache with that k would.")


class CacheSection(Section):
    batch_size: int = Field(8, ge=1, description="Sequences per teacher forward pass.")
    shard_size_tokens: int = Field(1_000_000, ge=1, description="Cached tokens per safetensors shard.")
    dtype: Literal["float16", "bfloat16"] = "float16"


class DistillConfig(SFTConfig):
    """Logit distillation: CE on the data mixed with KD from a frozen teacher (live or cached).
    Every SFT section and rule (QLoRA needs LoRA), plus the teacher and its cache."""
    recipe: Literal["distill"] = "distill"
    kd: KDSection
    cache: CacheSection = Field(default_factory=CacheSection)

    @model_validator(mode="after")
    def _check_kd(self):
        if self.kd.cache_dir and self.kd.restrict_topk:
            raise ValueError("kd.restrict_topk is for an on-the-fly teacher; a cache is already top-k "
                             "(its k is kd.topk at cache time)")
        return self


class DistillCacheConfig(DistillConfig):
    """Run the teacher once over the distill data and write its top-k log-probs to kd.cache_dir."""
    recipe: Literal["distill-cache"] = "distill-cache"

    @model_validator(mode="after")
    def _needs_dir(self):
        if not self.kd.cache_dir:
            raise ValueError("kd.cache_dir must name the directory the cache is written to")
        return self


class GenerationSection(Section):
    backend: Literal["transformers", "vllm"] = Field(
        "transformers", description="vllm needs `pip install vllm` and a CUDA GPU; transformers "
        "generates in batches with the KV cache anywhere.")
    max_new_tokens: int = Field(1024, ge=1)
    temperature: float = Field(0.6, ge=0.0, description="0: greedy. R1 distills recommend 0.6.")
    top_p: float = Field(0.95, gt=0.0, le=1.0)
    samples_per_prompt: int = Field(4, ge=1, le=64, description="N traces drawn per prompt.")
    keep_per_prompt: int = Field(1, ge=1, description="At most this many verified traces kept per prompt.")
    batch_size: int = Field(16, ge=1, description="Sequences per generate() call (prompts x samples).")
    shard_size: int = Field(256, ge=1, description="Prompts per resumable output shard.")
    max_prompt_len: int = Field(1024, ge=8, description="Longer prompts are skipped (counted in stats).")


class VerifySection(Section):
    kind: Literal["auto", "number", "choice", "text"] = Field(
        "auto", description="auto: choice for MCQA rows, number when meta.answer is numeric, else text.")
    rel_tol: float | None = Field(None, ge=0.0, description="Relative tolerance for numbers; default "
                                  "the row's meta.tolerance, else 0.01.")


class TracesData(Section):
    path: str = Field(description="Chat JSONL (rows with meta.answer, e.g. `kdtune data synth` "
                      "output), MCQA JSONL (question, A-D, answer), a prepared dir, or builtin:<domain>.")
    max_examples: int | None = Field(None, ge=1)


class TracesOutput(Section):
    dir: str = Field(description="Dataset directory: train.jsonl + stats.json (+ shards/ while running).")


class TracesConfig(BaseModel):
    """Trace distillation, step 1: the teacher writes `<think>` traces; only verified ones are kept."""
    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    recipe: Literal["traces"] = "traces"
    description: str = ""
    teacher: TeacherSection
    data: TracesData
    generation: GenerationSection = Field(default_factory=GenerationSection)
    verify: VerifySection = Field(default_factory=VerifySection)
    seed: int = 0
    precision: Literal["auto", "bf16", "fp16", "fp32"] = "auto"
    output: TracesOutput
