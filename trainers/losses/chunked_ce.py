"""Output head + cross-entropy without ever building [tokens, vocab] logits for the whole batch.

With a ~152k vocabulary the logits are a small model's largest activation: one 2048-token sequence
has 311M of them, 1.16 GiB in fp32, and the usual `lm_head -> .float() -> F.cross_entropy` path keeps
several such copies alive at once (bf16 logits, the fp32 upcast, log-softmax, its gradient). Here the
tokens are processed in chunks; for each chunk we build its logits, upcast them to fp32, take the
loss, and immediately turn them into the gradient w.r.t. the hidden states (and the head weight when
it is trainable): d loss / d logits = softmax - onehot. Only one chunk's [chunk, vocab] buffers exist
at a time; backward just scales the stored gradients by the incoming scalar.

Returns the *sum* of token losses and the token count, so the trainer can divide by the number of
target tokens in the whole accumulated batch (exact gradient accumulation).

On CUDA with liger-kernel installed, `backend="auto"` hands the work to its fused Triton kernel,
which computes the same quantity (same reduction, same ignore_index).
"""
from __future__ import annotations

import importlib.util
from typing import Literal

import torch
import torch.nn.functional as F

Backend = Literal["auto", "torch", "liger"]


def linear_cross_entropy(hidden: torch.Tensor, weight: torch.Tensor, labels: torch.Tensor, *,
                         bias: torch.Tensor | None = None, chunk_size: int = 2048,
                         ignore_index: int = -100, backend: Backend = "auto"
                         ) -> tuple[torch.Tensor, torch.Tensor]:
    """Sum over non-ignored tokens of cross_entropy(hidden @ weight.T + bias, labels).

    hidden [..., H] any float dtype; weight [V, H] (the output head, frozen, trainable or tied);
    labels [...] already shifted by the caller. Returns (loss_sum fp32 scalar, token_count int64
    scalar). The matmul runs in weight's dtype (as lm_head would), the softmax in fp32.
    """
    if hidden.shape[:-1] != labels.shape:
        raise ValueError(f"hidden {tuple(hidden.shape)} and labels {tuple(labels.shape)} disagree: "
                         "hidden must be labels.shape + (hidden_size,)")
    if weight.dim() != 2 or weight.shape[1] != hidden.shape[-1]:
        raise ValueError(f"weight must be [vocab, {hidden.shape[-1]}], got {tuple(weight.shape)}")
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
    h2 = hidden.reshape(-1, hidden.shape[-1])
    y = labels.reshape(-1)
    count = (y != ignore_index).sum()

    if _use_liger(backend, h2):
        return _liger_sum(h2, weight, y, bias, ignore_index), count

    wants_grad = torch.is_grad_enabled() and any(
        t is not None and t.requires_grad for t in (hidden, weight, bias))
    if not wants_grad:
        loss, *_ = _chunked_forward(h2, weight, bias, y, chunk_size, ignore_index,
                                    (False, False, False))
        return loss, count
    loss = _ChunkedLinearCE.apply(h2, weight, bias, y, chunk_size, ignore_index)
    return loss, count


def _chunked_forward(h2, weight, bias, y, chunk_size, ignore_index, need):
    """Loss sum and, where `need` says so, the gradients (hidden, weight, bias) of that sum."""
    need_h, need_w, need_b = need
    vocab = weight.shape[0]
    device, mm_dtype = h2.device, weight.dtype
    loss = torch.zeros((), dtype=torch.float32, device=device)
    # Gradient w.r.t. hidden in hidden's own dtype: the same size as hidden itself, nothing vocab-sized.
    grad_h = torch.zeros_like(h2) if need_h else None
    # Weight/bias gradients are sums over all tokens: accumulate them in fp32 so many chunks of bf16
    # products do not lose precision; cast once at the end.
    grad_w = torch.zeros(weight.shape, dtype=torch.float32, device=device) if need_w else None
    grad_b = torch.zeros(vocab, dtype=torch.float32, device=device) if need_b else None

    rows = (y != ignore_index).nonzero().squeeze(1)  # ignored tokens cost nothing
    if rows.numel() and not bool(((y[rows] >= 0) & (y[rows] < vocab)).all()):
        raise ValueError(f"labels must be in [0, {vocab}) or equal ignore_index={ignore_index}")
    # Autocast would re-cast our matmuls to its own dtype; the dtypes here are chosen deliberately.
    with torch.autocast(device.type, enabled=False):
        for start in range(0, rows.numel(), chunk_size):
            idx = rows[start:start + chunk_size]
            h = h2.index_select(0, idx).to(mm_dtype)
            target = y.index_select(0, idx).long()
            # Logits in the head's dtype (fp32 accumulation inside the matmul), then fp32 for the
            # softmax; this chunk is the only [tokens, vocab] data alive.
            logits = F.linear(h, weight, bias).float()
            target_logit = logits.gather(1, target[:, None]).squeeze(1)
            # logsumexp by hand, in place: torch.logsumexp would allocate another [chunk, vocab]
            # buffer. The buffer ends up holding softmax, from which the gradient is built.
            row_max = logits.amax(dim=1, keepdim=True)
            probs = logits.sub_(row_max).exp_()
            total = probs.sum(dim=1)
            loss += (row_max.squeeze(1) + total.log() - target_logit).sum()
            if any(need):
                g = probs.div_(total[:, None])                      # softmax ...
                g[torch.arange(idx.numel(), device=device), target] -= 1.0   # ... - onehot
                if need_h:
                    grad_h.index_copy_(0, idx, (g.to(mm_dtype) @ weight).to(grad_h.dtype))
                if need_w:
                    grad_w.addmm_(g.t(), h.float())
                if need_b:
                    grad_b += g.sum(0)
                del g
            del logits, probs   # free this chunk before the next one is allocated
    return loss, grad_h, grad_w, grad_b


class _ChunkedLinearCE(torch.autograd.Function):
    """Gradients are computed in forward (that is what keeps memory flat); backward scales them."""

    @staticmethod
    def forward(ctx, h2, weight, bias, y, chunk_size, ignore_index):
        need = tuple(ctx.needs_input_grad[:3])
        loss, grad_h, grad_w, grad_b = _chunked_forward(h2, weight, bias, y, chunk_size,
                                                        ignore_index, need)
        ctx.save_for_backward(grad_h, grad_w, grad_b)
        ctx.dtypes = (h2.dtype, weight.dtype, None if bias is None else bias.dtype)
        return loss

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_out):
        grad_h, grad_w, grad_b = ctx.saved_tensors
        h_dtype, w_dtype, b_dtype = ctx.dtypes
        scale = grad_out.float()
        out_h = (grad_h.float() * scale).to(h_dtype) if grad_h is not None else None
        out_w = (grad_w * scale).to(w_dtype) if grad_w is not None else None
        out_b = (grad_b * scale).to(b_dtype) if grad_b is not None else None
        return out_h, out_w, out_b, None, None, None


def liger_available() -> bool:
    return importlib.util.find_spec("liger_kernel") is not None


def _use_liger(backend: Backend, h2: torch.Tensor) -> bool:
    if backend == "torch":
        return False
    if backend == "liger":
        if not (h2.is_cuda and liger_available()):
            raise RuntimeError("backend='liger' needs CUDA tensors and `pip install liger-kernel`")
        return True
    if backend != "auto":
        raise ValueError(f"backend must be auto, torch or liger, got {backend!r}")
    return h2.is_cuda and liger_available()


def _liger_sum(h2, weight, y, bias, ignore_index) -> torch.Tensor:
    """liger-kernel's fused head+CE with reduction='sum'. Its Triton kernel wants one dtype for
    hidden and weight, 2-D inputs and int64 targets; some versions return (loss, z_loss)."""
    from liger_kernel.transformers import LigerFusedLinearCrossEntropyLoss

    fn = LigerFusedLinearCrossEntropyLoss(ignore_index=ignore_index, reduction="sum")
    out = fn(weight, h2.to(weight.dtype).contiguous(), y.long().contiguous(), bias)
    loss = out[0] if isinstance(out, tuple) else out
    return loss.float()
