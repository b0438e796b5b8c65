"""Config of the eval recipe: what to evaluate (a model, a model + adapter, or a run directory) on
which benchmark, and how. `BenchmarkSection` is shared with the bench recipe, which runs the same
benchmark on every arm.

Two kinds of evaluation share the recipe: a benchmark (`eval:` section: MCQA or generative sets) or a
domain classification task (`classify:` + `data:` sections, {"text", "label"} JSONL). The
classification test file lives under `data.path`, as the training data does in training configs, so
`kdtune run eval --config configs/eval/cls_finance.yaml run=RUN data.path=other.jsonl` swaps it.
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
    temperature: float | None = Field(None, ge=0.0, le=2.0, description="Generation: 0 is greedy; unset, "
                                      "the chat format's default (R1: 0.6, as DeepSeek recommends; else greedy).")
    top_p: float | None = Field(None, gt=0.0, le=1.0, description="Unset: the chat format's default (R1: 0.95).")
    interval: Literal["wilson", "bootstrap"] = "wilson"
    min_hangul: float = Field(0.5, ge=0.0, le=1.0, description="Answers with a smaller Hangul share of "
                              "letters are counted as drifted out of Korean.")
    keep_outputs: int = Field(20, ge=0, description="Generations saved to eval.json as examples.")


class ClsDataSection(Section):
    path: str = Field(description="{\"text\", \"label\"} JSONL to evaluate on, or builtin:cls/<domain>[/<split>] "
                      "(a shipped split; test by default).")
    shots_path: str | None = Field(None, description="Solved {\"text\", \"label\"} rows the k-shot examples "
                                   "are drawn from; default the task's shipped train split. An item is never "
                                   "its own example, even when this is the evaluated file.")
    n: int | None = Field(None, ge=1, description="Evaluate only the first N rows.")


class ClassifySection(Section):
    task: Literal["manufacturing", "finance", "healthcare"] = Field(
        description="Which label set and prompt (data_tools.cls_tasks): manufacturing defect types, finance "
        "inquiry categories, healthcare departments.")
    scoring: Literal["loglik", "generate"] = Field(
        "loglik", description="loglik: the label with the highest log-likelihood as the answer (constrained "
        "to the label set); generate: greedy answer, exact match with a label after whitespace normalisation.")
    normalise: Literal["sum", "mean", "char"] = Field(
        "sum", description="loglik: compare labels by the summed log-probability of label + end-of-turn "
        "(sum), per token (mean) or per label character (char); see trainers/evaluation/label_scoring.py.")
    k_shot: int = Field(0, ge=0, le=16, description="Solved examples before the item, as earlier chat turns; "
                        "label-balanced, seeded per item.")
    seed: int = Field(0, description="Seed of k-shot selection and of bootstrap intervals.")
    batch_size: int = Field(8, ge=1, description="loglik: labels scored per forward pass after the shared prompt.")
    max_new_tokens: int | None = Field(None, ge=1, description="generate: token budget; default the longest "
                                       "label's tokens + 2.")
    interval: Literal["wilson", "bootstrap"] = "wilson"
    keep_outputs: int = Field(20, ge=0, description="Items saved to the report as examples.")
    report: str = Field("eval", pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$", description="File stem of the "
                        "report in the run directory: <report>.json, <report>_confusion.md and .png (set "
                        "it to keep several evaluations of one run).")


class EvalConfig(BaseModel):
    """Evaluate a base model, a model + adapter, or a finished run's output on one benchmark."""
    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    recipe: Literal["eval"] = "eval"
    description: str = ""
    model: ModelSection | None = Field(None, description="The base model; not needed with `run`.")
    adapter: str | None = Field(None, description="PEFT adapter directory to load on top of `model`.")
    run: str | None = Field(None, description="A finished run directory: its config gives the model, its "
                            "adapter/ or model/ the weights, and eval.json is written into it.")
    eval: BenchmarkSection | None = Field(None, description="A benchmark to run (MCQA or generative).")
    classify: ClassifySection | None = Field(None, description="A classification task to run on `data`.")
    data: ClsDataSection | None = Field(None, description="The classification rows (with `classify`).")
    compute: ComputeSection = Field(default_factory=ComputeSection)
    output: OutputSection = Field(default_factory=OutputSection)

    @model_validator(mode="after")
    def _something_to_evaluate(self) -> "EvalConfig":
        if self.model is None and self.run is None:
            raise ValueError("set model.path (with an optional adapter) or run: RUN_DIR")
        if (self.eval is None) == (self.classify is None):
            raise ValueError("set exactly one of `eval:` (a benchmark) or `classify:` (a classification task)")
        if (self.classify is None) != (self.data is None):
            raise ValueError("`classify:` needs `data:` (data.path: the {text, label} rows) and `data:` is only "
                             "used with `classify:`")
        if self.run is not None and self.adapter is not None:
            raise ValueError("`run` already names the adapter (RUN_DIR/adapter); drop `adapter`")
        return self
