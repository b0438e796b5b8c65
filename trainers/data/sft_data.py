"""Tokenised SFT examples, deterministic batch order, and collation.

Batch order is a pure function of (seed, epoch, position), which is what makes resume exact:
a resumed run recomputes the same permutation and skips the micro-batches already consumed.
With N processes each optimizer step takes N x micro_batch sequences in global order and every
rank takes its own slice, so the global batch — and the loss — match a 1-process run.
"""
from __future__ import annotations

import math
import random
from dataclasses import dataclass

import torch

from trainers.data.chat_format import IGNORE, tokenize_chat
from trainers.errors import UserError


@dataclass
class Example:
    input_ids: list[int]
    labels: list[int]
    # Stable id of the source chat (its position in the list given to tokenize_chats, plus an
    # offset); the offline distillation cache is keyed by it. Positions, not list indices of the
    # kept examples, so dropping an empty example does not renumber the others.
    example_id: int | None = None

    @property
    def n_targets(self) -> int:  # tokens whose next-token prediction is trained (after the shift)
        return sum(1 for t in self.labels[1:] if t != IGNORE)


def tokenize_chats(chats: list[list[dict]], tokenizer, fmt: str, max_len: int, keep_think: bool,
                   system_prompt: str | None = None, id_offset: int = 0) -> tuple[list[Example], int]:
    """-> (examples, number dropped because truncation left no assistant token).
    Example i of `chats` gets example_id id_offset + i."""
    examples, empty = [], 0
    for i, msgs in enumerate(chats):
        if system_prompt and msgs[0]["role"] != "system":
            msgs = [{"role": "system", "content": system_prompt}] + msgs
        ex = Example(*tokenize_chat(msgs, tokenizer, fmt, max_len, keep_think), example_id=id_offset + i)
        if ex.n_targets == 0:
            empty += 1
        else:
            examples.append(ex)
    return examples, empty


def split_eval(chats: list, fraction: float, seed: int) -> tuple[list, list]:
    if fraction <= 0 or len(chats) < 2:
        return chats, []
    order = list(range(len(chats)))
    random.Random(seed).shuffle(order)
    n_eval = max(1, int(round(len(chats) * fraction)))
    held = set(order[:n_eval])
    return [c for i, c in enumerate(chats) if i not in held], [c for i, c in enumerate(chats) if i in held]


class BatchPlan:
    """Which examples form micro-batch k of the run, for this rank."""

    def __init__(self, n_examples: int, micro_batch: int, world_size: int, rank: int, seed: int):
        self.n, self.mb, self.world, self.rank, self.seed = n_examples, micro_batch, world_size, rank, seed
        self.global_mb = micro_batch * world_size
        if n_examples < self.global_mb:
            raise UserError(f"only {n_examples} training examples for a global micro-batch of "
                             f"{self.global_mb} (micro_batch_size x processes); use fewer processes "
                             f"or a smaller micro_batch_size")
        self.per_epoch = n_examples // self.global_mb   # a ragged tail would unbalance ranks
        self._cache: tuple[int, list[int]] | None = None

    def _order(self, epoch: int) -> list[int]:
        if self._cache is None or self._cache[0] != epoch:
            order = list(range(self.n))
            random.Random(self.seed * 100_003 + epoch).shuffle(order)
            self._cache = (epoch, order)
        return self._cache[1]

    def micro_batch(self, k: int) -> tuple[int, list[int]]:
        """-> (epoch, example indices) of the k-th micro-batch of the whole run (0-based)."""
        epoch, pos = divmod(k, self.per_epoch)
        start = pos * self.global_mb + self.rank * self.mb
        return epoch, self._order(epoch)[start:start + self.mb]

    def steps_for(self, epochs: float, grad_accum: int) -> int:
        return max(1, math.floor(self.per_epoch * epochs / grad_accum))


def collate(examples: list[Example], pad_id: int) -> dict[str, torch.Tensor]:
    width = max(len(e.input_ids) for e in examples)
    ids = torch.full((len(examples), width), pad_id, dtype=torch.long)
    labels = torch.full((len(examples), width), IGNORE, dtype=torch.long)
    mask = torch.zeros((len(examples), width), dtype=torch.long)
    for i, e in enumerate(examples):
        n = len(e.input_ids)
        ids[i, :n] = torch.tensor(e.input_ids)
        labels[i, :n] = torch.tensor(e.labels)
        mask[i, :n] = 1
    batch = {"input_ids": ids, "attention_mask": mask, "labels": labels,
             "n_targets": torch.tensor(sum(e.n_targets for e in examples))}
    if all(e.example_id is not None for e in examples):   # what a distillation cache looks up
        batch["example_ids"] = torch.tensor([e.example_id for e in examples])
    return batch
