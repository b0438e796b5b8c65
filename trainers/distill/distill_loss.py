"""Logit distillation loss for the one loop: ce_weight * CE + (1 - ce_weight) * KD, token-summed.

The student's decoder runs once; its last hidden states feed both the chunked cross-entropy and the
chunked KD loss (neither builds [tokens, vocab] logits for the batch). Both terms use the same
trained-token mask, shifted like SFTLoss (position t predicts token t+1), so their sums share one
token count and the loop's 1/tokens normalisation stays exact under accumulation.

The teacher is a LiveTeacher (a frozen model run under no_grad on the same batch) or a CachedTeacher
(top-k targets read from `kdtune run distill-cache` output, keyed by batch["example_ids"]).
"""
from __future__ import annotations

import torch

from trainers.data.chat_format import IGNORE
from trainers.distill.distill_cache import TopKCacheReader
from trainers.errors import UserError
from trainers.loop import LossOutput
from trainers.losses.chunked_ce import linear_cross_entropy
from trainers.losses.kd import chunked_kd_loss
from trainers.losses.kd_topk import TopKTargets
from trainers.models.model_builder import causal_lm_parts


class LiveTeacher:
    """A frozen teacher evaluated per batch. Deliberately not an nn.Module attribute of the loss:
    as a submodule, DDP would broadcast its (possibly 4-bit) weights and the loop's .train() after
    evaluation would switch its dropout on."""

    def __init__(self, model: torch.nn.Module, restrict_topk: int | None = None):
        self.model = model.eval()
        for p in model.parameters():
            p.requires_grad_(False)
        self.restrict_topk = restrict_topk

    @torch.no_grad()
    def targets(self, batch: dict, mask: torch.Tensor, device) -> dict:
        decoder, head = causal_lm_parts(self.model)
        hidden = decoder(input_ids=batch["input_ids"].to(device),
                         attention_mask=batch["attention_mask"].to(device)).last_hidden_state
        h = hidden[:, :-1].reshape(-1, hidden.shape[-1])
        return {"teacher_hidden": h, "teacher_head_weight": head.weight, "restrict_topk": self.restrict_topk}


class CachedTeacher:
    """Top-k targets from an offline cache. The cache holds, per example, one row per trained
    token in order; they are scattered here to the flattened [B * (T-1)] positions of the batch."""

    def __init__(self, reader: TopKCacheReader):
        self.reader = reader

    def targets(self, batch: dict, mask: torch.Tensor, device) -> dict:
        if "example_ids" not in batch:
            raise UserError("distillation from a cache needs example ids in the batch (Example.example_id)")
        n_rows = mask.numel()
        width = mask.shape[1]
        k = self.reader.k
        indices = torch.zeros((n_rows, k), dtype=torch.int64)
        logprobs = torch.zeros((n_rows, k), dtype=torch.float32)
        tail = torch.zeros((n_rows,), dtype=torch.float32)
        for b, ex_id in enumerate(batch["example_ids"].tolist()):
            rows = mask[b].nonzero().squeeze(1).cpu() + b * width
            t = self.reader.get(ex_id)
            if len(t) != rows.numel():
                raise UserError(f"the top-k cache {self.reader.dir} has {len(t)} rows for example "
                                f"{ex_id}, the data gives {rows.numel()} trained tokens: the cache was "
                                f"built from other data or settings; rebuild it with `kdtune run distill-cache`")
            indices[rows], logprobs[rows], tail[rows] = t.indices.long(), t.logprobs, t.tail_logprob
        return {"teacher_topk": TopKTargets(indices.to(device), logprobs.to(device), tail.to(device),
                                            self.reader.temperature)}


class DistillLoss(torch.nn.Module):
    def __init__(self, student: torch.nn.Module, teacher: LiveTeacher | CachedTeacher, *, kind: str,
                 beta: float, temperature: float, ce_weight: float, vocab_size: int,
                 kd_chunk_size: int, ce_chunk_size: int):
        super().__init__()
        self.model = student
        self.teacher = teacher
        self.kind, self.beta, self.temperature = kind, beta, temperature
        self.ce_weight, self.vocab_size = ce_weight, vocab_size
        self.kd_chunk_size, self.ce_chunk_size = kd_chunk_size, ce_chunk_size
        if causal_lm_parts(student)[1].bias is not None:
            raise UserError("the student's output head has a bias; the chunked KD loss supports "
                            "bias-free heads only (Qwen2, Llama and EXAONE have none)")

    def forward(self, batch: dict) -> LossOutput:
        decoder, head = causal_lm_parts(self.model)
        device = head.weight.device
        hidden = decoder(input_ids=batch["input_ids"].to(device),
                         attention_mask=batch["attention_mask"].to(device)).last_hidden_state
        h = hidden[:, :-1]
        labels = batch["labels"].to(device)[:, 1:]          # position t predicts token t+1
        ce_sum, n = linear_cross_entropy(h, head.weight, labels, bias=head.bias,
                                         chunk_size=self.ce_chunk_size, ignore_index=IGNORE)
        mask = labels != IGNORE
        kd_sum, _ = chunked_kd_loss(h.reshape(-1, h.shape[-1]), head.weight, mask=mask.reshape(-1),
                                    kind=self.kind, beta=self.beta, temperature=self.temperature,
                                    vocab_size=self.vocab_size, chunk_size=self.kd_chunk_size,
                                    **self.teacher.targets(batch, mask, device))
        loss = self.ce_weight * ce_sum + (1.0 - self.ce_weight) * kd_sum
        return LossOutput(loss_sum=loss, n_tokens=n,
                          metrics={"ce_sum": ce_sum.detach(), "kd_sum": kd_sum.detach()})
