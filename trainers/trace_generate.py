"""Sampling N completions per prompt from the teacher: transformers (batched, KV cache) or vLLM.

Both backends take prompt *texts* rendered by the teacher's chat template with the generation prompt
opening `<think>` (as DeepSeek recommends for R1 distills), and return the completion text with
special tokens kept — `</think>` is a special token in some tokenizers and must survive decoding —
but without the end-of-sequence token and padding.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from trainers.config.distill import GenerationSection, TeacherSection
from trainers.errors import UserError
from trainers.model_loading import resolve_model_source

THINK_OPEN = "<think>"


@dataclass
class Sample:
    text: str          # the completion after the prompt
    n_tokens: int      # generated tokens, the end-of-sequence token included
    finished: bool     # stopped at end-of-sequence (not at max_new_tokens)


def prompt_text(tokenizer, messages: list[dict]) -> str:
    """The chat template's generation prompt, made to end inside an open `<think>` block so every
    trace starts with reasoning (the completion then continues it)."""
    if not getattr(tokenizer, "chat_template", None):
        raise UserError("the teacher tokenizer has no chat template; trace generation needs one")
    text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    return text if text.rstrip().endswith(THINK_OPEN) else text + THINK_OPEN + "\n"


class HFGenerator:
    """model.generate on left-padded batches of `gen.batch_size` sequences (prompts x samples)."""

    def __init__(self, model, tokenizer, gen: GenerationSection, device: torch.device):
        self.model, self.tok, self.gen, self.device = model.eval(), tokenizer, gen, device
        self.tok.padding_side = "left"     # generation appends on the right: pad the left

    def prompt_len(self, text: str) -> int:
        return len(self.tok(text, add_special_tokens=False)["input_ids"])

    @torch.no_grad()
    def __call__(self, texts: list[str], n: int, seed: int) -> list[list[Sample]]:
        torch.manual_seed(seed)
        seqs = [t for t in texts for _ in range(n)]
        eos = self.tok.eos_token_id
        sampling = (dict(do_sample=True, temperature=self.gen.temperature, top_p=self.gen.top_p)
                    if self.gen.temperature > 0 else dict(do_sample=False))
        flat: list[Sample] = []
        for start in range(0, len(seqs), self.gen.batch_size):
            enc = self.tok(seqs[start:start + self.gen.batch_size], return_tensors="pt", padding=True,
                           add_special_tokens=False).to(self.device)
            out = self.model.generate(**enc, max_new_tokens=self.gen.max_new_tokens, use_cache=True,
                                      pad_token_id=self.tok.pad_token_id, eos_token_id=eos, **sampling)
            for row in out[:, enc["input_ids"].shape[1]:].tolist():
                finished = eos in row
                ids = row[:row.index(eos)] if finished else row
                flat.append(Sample(self.tok.decode(ids, skip_special_tokens=False), len(ids) + finished,
                                   finished))
        return [flat[i * n:(i + 1) * n] for i in range(len(texts))]


class VLLMGenerator:
    """vLLM's continuous batching; used when generation.backend=vllm (CUDA, `pip install vllm`)."""

    def __init__(self, teacher: TeacherSection, gen: GenerationSection, seed: int):
        try:
            from vllm import LLM
        except ImportError:
            raise UserError("generation.backend=vllm needs vLLM (`pip install vllm`, CUDA only); "
                            "or set generation.backend=transformers") from None
        source, _ = resolve_model_source(teacher.path, teacher.revision)
        kwargs = dict(model=source, revision=teacher.revision, trust_remote_code=teacher.trust_remote_code,
                      seed=seed, max_model_len=gen.max_prompt_len + gen.max_new_tokens)
        if teacher.load_in_4bit:
            kwargs.update(quantization="bitsandbytes", load_format="bitsandbytes")   # NF4 on load
        self.llm, self.gen = LLM(**kwargs), gen
        self.tok = self.llm.get_tokenizer()

    def prompt_len(self, text: str) -> int:
        return len(self.tok(text, add_special_tokens=False)["input_ids"])

    def __call__(self, texts: list[str], n: int, seed: int) -> list[list[Sample]]:
        from vllm import SamplingParams
        params = SamplingParams(n=n, temperature=self.gen.temperature, top_p=self.gen.top_p,
                                max_tokens=self.gen.max_new_tokens, seed=seed, skip_special_tokens=False)
        # token ids, not text: the rendered prompt already holds its BOS, vLLM would add another
        prompts = [{"prompt_token_ids": self.tok(t, add_special_tokens=False)["input_ids"]} for t in texts]
        results = self.llm.generate(prompts, params)
        return [[Sample(o.text, len(o.token_ids), o.finish_reason == "stop") for o in r.outputs]
                for r in results]
