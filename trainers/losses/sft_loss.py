"""Next-token cross-entropy on assistant tokens, without building the full logits.

The decoder runs to its last hidden state; the output head and the loss run chunk by chunk over
the trained tokens only (prompt tokens never reach the vocabulary projection).
"""
from __future__ import annotations

import torch

from trainers.data.chat_format import IGNORE
from trainers.loop import LossOutput
from trainers.losses.chunked_ce import linear_cross_entropy
from trainers.models.model_builder import causal_lm_parts


class SFTLoss(torch.nn.Module):
    def __init__(self, model: torch.nn.Module, chunk_size: int):
        super().__init__()
        self.model = model
        self.chunk_size = chunk_size

    def forward(self, batch: dict) -> LossOutput:
        decoder, head = causal_lm_parts(self.model)
        device = head.weight.device
        hidden = decoder(input_ids=batch["input_ids"].to(device),
                         attention_mask=batch["attention_mask"].to(device)).last_hidden_state
        labels = batch["labels"].to(device)
        # position t predicts token t+1
        loss_sum, n = linear_cross_entropy(hidden[:, :-1], head.weight, labels[:, 1:],
                                           bias=head.bias, chunk_size=self.chunk_size, ignore_index=IGNORE)
        return LossOutput(loss_sum=loss_sum, n_tokens=n)
