"""train.keep_last prunes: 10 steps, a checkpoint every 2, keep 2 -> exactly step 6 and step 8 remain
(the loop saves no checkpoint at the final step: the finished run's outputs are the adapter)."""
import pytest

from tests.helpers import tiny_lora
from trainers.loop import train
from trainers.losses.sft_loss import SFTLoss
from trainers.run.run_dir import RunDir


@pytest.mark.parametrize("keep,expected", [(2, [6, 8]), (1, [8])])
def test_only_the_newest_checkpoints_are_kept(tmp_path, keep, expected):
    cfg, built, ex, acc = tiny_lora()
    tc = cfg.train.model_copy(update=dict(max_steps=10, save_every=2, keep_last=keep, micro_batch_size=2,
                                          grad_accum=1, log_every=5))
    run = RunDir(tmp_path, True)
    train(SFTLoss(built.model, 64), built.model, ex, [], built.tokenizer.pad_token_id, tc, cfg.eval, run,
          acc, progress=False)
    kept = sorted(p.name for p in run.checkpoints.iterdir())
    assert kept == [f"step-{s:07d}" for s in expected]
    assert all((run.checkpoints / k / "state.json").is_file() for k in kept)
