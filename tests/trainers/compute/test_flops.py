"""FLOP counts of trainers.compute.flops against hand arithmetic, then against torch's own FLOP counter.

The tiny config: hidden 64, 2 layers, 4 heads (head dim 16) / 2 KV heads, intermediate 128,
vocab 100, sequence 32. Every number below is written out so a reader can redo it on paper.
"""
import pytest
import torch
import transformers
from torch.utils.flop_counter import FlopCounterMode

from trainers.errors import UserError
from trainers.models.arch_spec import ArchSpec
from trainers.compute.flops import (
    forward_flops_per_token, generation_flops, matmul_params, sequence_forward_flops, teacher_token_cost,
    train_flops_per_token, train_token_cost,
)

TINY = ArchSpec(model_type="qwen2", hidden_size=64, num_layers=2, num_heads=4, num_kv_heads=2,
                intermediate_size=128, vocab_size=100, tie_embeddings=False)
T = 32
ALL = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]

# --- hand calculation -------------------------------------------------------------------------
# one block: q 64·64, k 64·32, v 64·32, o 64·64, gate 64·128, up 64·128, down 128·64
BLOCK = 64 * 64 + 64 * 32 + 64 * 32 + 64 * 64 + 64 * 128 + 64 * 128 + 128 * 64   # 36,864
BLOCKS = 2 * BLOCK                                                               # 73,728
HEAD = 100 * 64                                                                  # 6,400
N = BLOCKS + HEAD                                                                # 80,128
ATTN_FWD = 4 * 2 * 4 * 16 * T          # 4·L·H·Q·T = 16,384
# LoRA r=8 forward per layer: 2·8·Σ(in+out) over the seven linears
LORA_FWD = 2 * (2 * 8 * ((64 + 64) + (64 + 32) + (64 + 32) + (64 + 64) + (64 + 128) + (64 + 128) + (128 + 64)))  # 32,768

FULL = 2 * N + 4 * N + 3 * ATTN_FWD                                  # 529,920
FULL_CKPT = FULL + 2 * BLOCKS + ATTN_FWD                             # 693,760
LORA = 2 * N + 2 * N + 3 * ATTN_FWD + 3 * LORA_FWD                   # 467,968
LORA_CKPT = LORA + 2 * BLOCKS + ATTN_FWD + LORA_FWD                  # 664,576


def test_n_excludes_embedding_lookup_and_matches_hand_value():
    assert N == 80_128
    assert matmul_params(TINY) == N
    # tying does not remove the head matmul, so N is the same
    tied = ArchSpec(**{**TINY.to_dict(), "tie_embeddings": True})
    assert matmul_params(tied) == N


def test_full_fine_tune_equals_hand_calculation():
    b = train_flops_per_token(TINY, T, "full")
    assert (b.forward, b.backward, b.attention, b.adapter, b.recompute) == (160_256, 320_512, 49_152, 0, 0)
    assert b.total == FULL == 529_920
    assert b.model_flops_for_mfu == b.total
    assert b.mfu_basis == "6N+12LHQT"


def test_lora_equals_hand_calculation():
    b = train_flops_per_token(TINY, T, "lora", lora_r=8, lora_targets=ALL)
    assert (b.forward, b.backward, b.attention, b.adapter, b.recompute) == (160_256, 160_256, 49_152, 98_304, 0)
    assert b.total == LORA == 467_968
    assert train_flops_per_token(TINY, T, "lora", lora_r=8).total == LORA  # None = all linears
    assert train_flops_per_token(TINY, T, "qlora", lora_r=8).total == LORA  # dequant not counted


def test_checkpointed_adds_recompute_but_mfu_excludes_it():
    full = train_flops_per_token(TINY, T, "full", grad_checkpointing=True)
    assert full.recompute == 2 * 73_728 + 16_384 == 163_840
    assert full.total == FULL_CKPT == 693_760
    assert full.model_flops_for_mfu == FULL
    lora = train_flops_per_token(TINY, T, "lora", lora_r=8, grad_checkpointing=True)
    assert lora.recompute == 2 * 73_728 + 16_384 + 32_768 == 196_608
    assert lora.total == LORA_CKPT == 664_576
    assert lora.model_flops_for_mfu == LORA


def test_4n_vs_6n_ratio_on_a_real_size_model():
    # R1-Distill-Qwen-1.5B at short context: attention and adapters are small, so 4N/6N shows.
    arch = ArchSpec("qwen2", 1536, 28, 12, 2, 8960, 151_936, False)
    full = train_flops_per_token(arch, 1, "full")
    lora = train_flops_per_token(arch, 1, "lora", lora_r=16)
    n = full.n_matmul_params
    assert full.forward + full.backward == 6 * n
    assert lora.forward + lora.backward == 4 * n
    assert (lora.total - lora.adapter) / full.total == pytest.approx(4 / 6, abs=1e-3)
    assert lora.adapter / full.total < 0.02   # r=16 adapters on all linears: ~1% more
    ck = train_flops_per_token(arch, 1, "full", grad_checkpointing=True)
    # "+2N" minus the 152k-vocab head, which sits outside the checkpointed layers: +1.70N here
    assert ck.recompute - ck.attention // 3 == 2 * (n - 151_936 * 1536)
    assert ck.total / full.total == pytest.approx(1 + 1.70 / 6, abs=1e-3)


def test_forward_and_generation_hand_values():
    assert forward_flops_per_token(TINY, T) == 2 * N + ATTN_FWD == 176_640
    assert forward_flops_per_token(TINY, T, lora_r=8) == 176_640 + LORA_FWD
    per_ctx = 4 * 2 * 4 * 16                                     # 512 per key in context
    prefill = 10 * (2 * BLOCKS + per_ctx * 10) + 2 * HEAD        # head only for the last position
    decode = 4 * 2 * N + per_ctx * (11 + 12 + 13 + 14)           # 4 steps, contexts 11..14
    assert generation_flops(TINY, prompt_len=10, new_tokens=5) == prefill + decode == 2_205_184
    assert generation_flops(TINY, 10, 0) == 0


def test_head_runs_per_target_token_hand_values():
    full = train_flops_per_token(TINY, T, "full")
    lora = train_flops_per_token(TINY, T, "lora", lora_r=8)
    assert full.head == 6 * HEAD == 38_400      # forward, activation grad, weight grad
    assert lora.head == 4 * HEAD == 25_600      # frozen head: no weight grad
    # a LoRA adapter on the head rides with it: 6·r·(d+V) = 6·8·164
    with_head = train_flops_per_token(TINY, T, "lora", lora_r=8, lora_targets=ALL + ["lm_head"])
    assert with_head.head == 4 * HEAD + 6 * 8 * (64 + 100) == 33_472
    cost = train_token_cost(full)
    # 32 input tokens of which 10 are trained: blocks on 32, head on 10
    assert cost.flops(32, 10) == (32 * (FULL - 38_400) + 10 * 38_400,) * 2 == (16_112_640,) * 2
    ck = train_token_cost(train_flops_per_token(TINY, T, "full", grad_checkpointing=True))
    assert ck.flops(32, 10) == (32 * (FULL_CKPT - 38_400) + 10 * 38_400, 16_112_640)   # MFU: no recompute
    kd = train_token_cost(lora, head_passes=2)  # logit KD: the CE and the KD loss each run the head
    assert kd.flops(32, 10) == (32 * (LORA - 25_600) + 10 * 2 * 25_600,) * 2
    teacher = teacher_token_cost(TINY, T)
    assert teacher.flops(32, 10) == (32 * (2 * BLOCKS + ATTN_FWD) + 10 * 2 * HEAD,) * 2 == (5_370_880,) * 2
    assert sequence_forward_flops(TINY, 32, 10) == 5_370_880   # at the sequence's own length T=32


def test_torch_counter_agrees_head_on_targets_only():
    """The real SFT loss (chunked CE) on one 32-token sequence with 10 trained positions costs blocks
    × 32 + head × 10 by torch's own count: the head never sees the other 22 positions. LoRA, so the
    head is frozen: a trainable head's weight gradient is an in-place addmm_, which torch's counter
    does not see (it does run: FlopBreakdown.head counts it for full fine-tuning)."""
    peft = pytest.importorskip("peft")
    from trainers.data.chat_format import IGNORE
    from trainers.losses.sft_loss import SFTLoss
    base = _model()
    base.enable_input_require_grads()
    model = peft.get_peft_model(base, peft.LoraConfig(r=8, target_modules=ALL, lora_dropout=0.0)).train()
    ids = torch.randint(0, 100, (1, T))
    labels = torch.full((1, T), IGNORE)
    labels[0, 21:31] = ids[0, 21:31]             # 10 trained tokens, predicted from positions 20..29
    loss = SFTLoss(model, chunk_size=4)
    with FlopCounterMode(display=False) as counter:
        out = loss({"input_ids": ids, "attention_mask": torch.ones_like(ids), "labels": labels})
        out.loss_sum.backward()
    assert int(out.n_tokens) == 10
    expected = train_token_cost(train_flops_per_token(TINY, T, "lora", lora_r=8)).flops(32, 10)[0]
    assert counter.get_total_flops() == expected == 32 * (LORA - 4 * HEAD) + 10 * 4 * HEAD


def test_bad_inputs_fail_loudly():
    with pytest.raises(ValueError, match="lora_r"):
        train_flops_per_token(TINY, T, "lora")
    with pytest.raises(UserError, match="lora.target_modules names qkv, which this model's layers do not have") as e:
        train_flops_per_token(TINY, T, "lora", lora_r=8, lora_targets=["qkv"])
    assert isinstance(e.value, ValueError) and "q_proj" in str(e.value)   # names the valid ones
    with pytest.raises(ValueError, match="method"):
        train_flops_per_token(TINY, T, "dora")


# --- cross-check with torch.utils.flop_counter on the same architecture ----------------------

def _model():
    torch.manual_seed(0)
    cfg = transformers.Qwen2Config(hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
                                   num_key_value_heads=2, intermediate_size=128, vocab_size=100,
                                   tie_word_embeddings=False, attn_implementation="eager")
    return transformers.Qwen2ForCausalLM(cfg)


def _train_step_flops_per_token(model):
    ids = torch.randint(0, 100, (1, T))
    model.train()
    with FlopCounterMode(display=False) as counter:
        model(ids, labels=ids).loss.backward()
    return counter.get_total_flops() / T


def test_torch_counter_agrees_full_and_checkpointed():
    assert _train_step_flops_per_token(_model()) == FULL
    m = _model()
    m.activation_checkpointing_enable(activation_checkpointing_kwargs={"use_reentrant": True})
    assert _train_step_flops_per_token(m) == FULL_CKPT


def test_torch_counter_agrees_lora():
    peft = pytest.importorskip("peft")
    lora_cfg = peft.LoraConfig(r=8, target_modules=ALL, lora_dropout=0.0)
    m = peft.get_peft_model(_model(), lora_cfg)
    # Without input grads torch skips layer 0's q/k/v input gradients (base + LoRA A), see flops.py.
    skipped = 2 * 64 * (64 + 32 + 32) + 3 * 2 * 8 * 64
    assert _train_step_flops_per_token(m) == LORA - skipped
    base = _model()
    base.activation_checkpointing_enable(activation_checkpointing_kwargs={"use_reentrant": True})
    base.enable_input_require_grads()
    m = peft.get_peft_model(base, lora_cfg)
    assert _train_step_flops_per_token(m) == LORA_CKPT


def test_torch_counter_agrees_generation():
    m = _model().eval()
    ids = torch.randint(0, 100, (1, 10))
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        m.generate(ids, max_new_tokens=5, min_new_tokens=5, do_sample=False, pad_token_id=0)
    assert counter.get_total_flops() == generation_flops(TINY, 10, 5)
