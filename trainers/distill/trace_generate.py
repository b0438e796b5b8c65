"""Sampling N completions per prompt from the teacher: transformers (batched, KV cache) or vLLM.

Both backends render prompts with the chat renderer training uses, in the teacher's format
(trainers.data.chat_format.generation_prompt: for R1 the generation prompt opens `<think>\n`, as DeepSeek
recommends, with no system turn added) and stop at that format's stop tokens. The transformers
backend is the one batched generation function (trainers.models.batched_generation); completions keep
special tokens — `</think>` is a special token in some tokenizers and must survive decoding — but
not the stop token or padding.
"""
from __future__ import annotations

import torch

from trainers.config.distill import GenerationSection, TeacherSection
from trainers.data.chat_format import configured_format, generation_prompt, prompt_opens_think, stop_tokens
from trainers.errors import UserError
from trainers.models.batched_generation import Completion, generate_batched
from trainers.models.model_loading import resolve_model_source

Sample = Completion    # text after the prompt, tokens generated (stop included), finished at a stop


class _ChatPrompts:
    """Prompt rendering shared by both backends: `self.tok` and `self.fmt` set by the backend."""

    def prompt(self, messages: list[dict]) -> list[int]:
        return generation_prompt(messages, self.tok, self.fmt)

    def opens_think(self, prompt: list[int]) -> bool:
        return prompt_opens_think(self.tok, prompt)


class HFGenerator(_ChatPrompts):
    """generate_batched on batches of `gen.batch_size` sequences (prompts x samples)."""

    def __init__(self, model, tokenizer, gen: GenerationSection, device: torch.device, fmt: str):
        self.model, self.tok, self.gen, self.device, self.fmt = model.eval(), tokenizer, gen, device, fmt
        self.stops = stop_tokens(tokenizer, fmt)

    def __call__(self, prompts: list[list[int]], n: int, seed: int) -> list[list[Sample]]:
        return generate_batched(self.model, self.tok, prompts, self.stops, self.gen.max_new_tokens,
                                self.gen.temperature, self.gen.top_p, seed, self.gen.batch_size, n)


class VLLMGenerator(_ChatPrompts):
    """vLLM's continuous batching; used when generation.backend=vllm (CUDA, `pip install vllm`)."""

    def __init__(self, teacher: TeacherSection, gen: GenerationSection, seed: int, fmt: str | None = None):
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
        self.fmt = configured_format(fmt or teacher.chat_format, self.tok)
        self.stops = stop_tokens(self.tok, self.fmt)

    def __call__(self, prompts: list[list[int]], n: int, seed: int) -> list[list[Sample]]:
        from vllm import SamplingParams
        params = SamplingParams(n=n, temperature=self.gen.temperature, top_p=self.gen.top_p,
                                max_tokens=self.gen.max_new_tokens, seed=seed, skip_special_tokens=False,
                                stop_token_ids=list(self.stops.ids), stop=[self.stops.text] if self.stops.text else None)
        # token ids: the rendered prompt already holds its BOS, vLLM would add another to a text
        results = self.llm.generate([{"prompt_token_ids": p} for p in prompts], params)
        return [[Sample(o.text, len(o.token_ids), o.finish_reason == "stop") for o in r.outputs]
                for r in results]
