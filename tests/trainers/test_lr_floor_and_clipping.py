"""Two loop settings that fail silently when ignored: the cosine schedule ends at
train.min_lr_ratio·lr (not 0), and train.max_grad_norm really clips — the optimizer steps with a
gradient of norm <= max, while metrics.jsonl logs the norm before clipping."""
import json
import math

import pytest
import torch
from torch.optim.optimizer import register_optimizer_step_pre_hook

from tests.helpers import tiny_lora
from trainers.data.sft_data import BatchPlan, collate
from trainers.loop import LossOutput, accumulate_gradients, train
from trainers.losses.sft_loss import SFTLoss
from trainers.run.run_dir import RunDir


@pytest.fixture(scope="module")
def setup():
    return tiny_lora()


def run_loop(setup, tmp_path, loss_module=None, **train_keys):
    cfg, built, ex, acc = setup
    tc = cfg.train.model_copy(update=dict(dict(micro_batch_size=2, grad_accum=1, save_every=0, log_every=1),
                                          **train_keys))
    loss_module = loss_module or SFTLoss(built.model, 64)
    train(loss_module, built.model, ex, [], built.tokenizer.pad_token_id, tc, cfg.eval,
          RunDir(tmp_path, True), acc, progress=False)
    return [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]


@pytest.mark.parametrize("floor", [0.0, 0.25])
def test_cosine_schedule_ends_at_the_floor(setup, tmp_path, floor):
    lr, steps = 1e-3, 6
    rows = run_loop(setup, tmp_path, max_steps=steps, lr=lr, warmup_ratio=0.0, min_lr_ratio=floor)
    # naive schedule: row k logs the lr after k scheduler steps (the lr the next step would use)
    expected = [lr * (floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * k / steps))) for k in range(1, steps + 1)]
    assert [r["lr"] for r in rows] == pytest.approx(expected, rel=1e-9, abs=1e-15)
    assert rows[-1]["lr"] == pytest.approx(floor * lr, abs=1e-15)


class Amplified(torch.nn.Module):
    """The SFT loss times a large factor: a step with huge gradients, as after a bad batch."""

    def __init__(self, inner: torch.nn.Module, factor: float):
        super().__init__()
        self.inner, self.factor = inner, factor

    def forward(self, batch):
        out = self.inner(batch)
        return LossOutput(out.loss_sum * self.factor, out.n_tokens, out.metrics)


def grad_norm(params) -> float:
    return float(torch.linalg.vector_norm(torch.stack([p.grad.detach().norm() for p in params if p.grad is not None])))


def test_huge_gradients_are_clipped_and_the_pre_clip_norm_is_logged(setup, tmp_path):
    cfg, built, ex, acc = setup
    model, pad, max_norm = built.model, built.tokenizer.pad_token_id, 1.0
    loss = Amplified(SFTLoss(model, 64), 1e4)
    # the first step's gradient, computed here from the same micro-batch the loop will draw
    plan = BatchPlan(len(ex), 2, 1, 0, cfg.train.seed)
    first = [collate([ex[i] for i in plan.micro_batch(0)[1]], pad)]
    params = [p for p in model.parameters() if p.requires_grad]
    model.zero_grad(set_to_none=True)
    accumulate_gradients(loss, first, acc)
    reference = grad_norm(params)
    model.zero_grad(set_to_none=True)
    assert reference > 100 * max_norm, "the test needs a gradient far above the clipping norm"

    seen = []   # the gradient norm each optimizer step actually used
    hook = register_optimizer_step_pre_hook(
        lambda opt, args, kwargs: seen.append(grad_norm([p for g in opt.param_groups for p in g["params"]])))
    try:
        rows = run_loop(setup, tmp_path, loss_module=loss, max_steps=2, max_grad_norm=max_norm)
    finally:
        hook.remove()
    assert len(seen) == 2 and all(n <= max_norm * (1 + 1e-5) for n in seen), seen
    assert rows[0]["grad_norm"] == pytest.approx(reference, rel=1e-4)   # logged: before clipping
    assert all(r["grad_norm"] > 100 * max_norm for r in rows)
