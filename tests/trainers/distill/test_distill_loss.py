"""DistillLoss against naive references: full logits, F.cross_entropy, explicit KL; frozen teacher;
cached targets == live teacher restricted to the same top-k."""
import pytest
import torch
import torch.nn.functional as F

from trainers.config.sections import ModelSection
from trainers.data.chat_data import read_chat_file, resolve_data_path
from trainers.data.sft_data import collate, tokenize_chats
from trainers.distill.distill_loss import CachedTeacher, DistillLoss, LiveTeacher
from trainers.losses.kd_topk import compute_topk
from trainers.losses.sft_loss import SFTLoss
from trainers.models.model_builder import load_base_model, load_tokenizer


@pytest.fixture(scope="module")
def setup():
    tok = load_tokenizer(ModelSection(path="tiny:qwen2"))
    chats = read_chat_file(resolve_data_path("builtin:finance")[0]).chats[:3]
    examples, _ = tokenize_chats(chats, tok, "r1", 48, True)
    torch.manual_seed(0)
    student, _ = load_base_model(ModelSection(path="tiny:qwen2"), torch.float32, torch.device("cpu"))
    teacher, _ = load_base_model(ModelSection(path="tiny:llama"), torch.float32, torch.device("cpu"))
    return tok, examples, student, teacher


def _loss(student, teacher, **kw):
    args = dict(kind="forward_kl", beta=0.5, temperature=2.0, ce_weight=0.3, vocab_size=2048,
                kd_chunk_size=7, ce_chunk_size=5)
    args.update(kw)
    return DistillLoss(student, teacher, **args)


def test_loss_is_the_mix_of_naive_ce_and_kl(setup):
    tok, examples, student, teacher = setup
    batch = collate(examples, tok.pad_token_id)
    out = _loss(student, LiveTeacher(teacher))(batch)
    with torch.no_grad():
        s = student(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits[:, :-1]
        t = teacher(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits[:, :-1]
    labels = batch["labels"][:, 1:]
    mask = labels != -100
    ce = F.cross_entropy(s[mask], labels[mask], reduction="sum")
    lt, ls = F.log_softmax(t[mask] / 2.0, -1), F.log_softmax(s[mask] / 2.0, -1)
    kl = (lt.exp() * (lt - ls)).sum() * 4.0    # temperature^2 scaling
    assert int(out.n_tokens) == int(mask.sum()) == int(batch["n_targets"])
    torch.testing.assert_close(out.metrics["ce_sum"], ce, rtol=1e-5, atol=1e-4)
    torch.testing.assert_close(out.metrics["kd_sum"], kl, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(out.loss_sum, 0.3 * ce + 0.7 * kl, rtol=1e-5, atol=1e-4)


def test_ce_weight_one_equals_sft_and_teacher_stays_frozen(setup):
    tok, examples, student, teacher = setup
    batch = collate(examples, tok.pad_token_id)
    teacher.train()
    live = LiveTeacher(teacher)
    assert not teacher.training and not any(p.requires_grad for p in teacher.parameters())
    loss = _loss(student, live, ce_weight=1.0)
    assert not any(p is q for p in loss.parameters() for q in teacher.parameters())
    loss.train()
    assert not teacher.training
    out = loss(batch)
    ref = SFTLoss(student, 5)(batch)
    torch.testing.assert_close(out.loss_sum, ref.loss_sum, rtol=1e-6, atol=1e-5)
    out.loss_sum.backward()
    assert all(p.grad is None for p in teacher.parameters())
    assert student.model.layers[0].mlp.up_proj.weight.grad is not None
    student.zero_grad(set_to_none=True)


class _Reader:
    """Stands in for TopKCacheReader: per-example targets of the trained rows."""
    def __init__(self, targets, k, temperature):
        self.targets, self.k, self.temperature, self.dir = targets, k, temperature, "mem"

    def get(self, ex_id):
        return self.targets[ex_id]


def test_cached_targets_equal_live_teacher_restricted_to_topk(setup):
    tok, examples, student, teacher = setup
    batch = collate(examples, tok.pad_token_id)
    mask = batch["labels"][:, 1:] != -100
    with torch.no_grad():
        t = teacher(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits[:, :-1]
    targets = {e.example_id: compute_topk(t[b][mask[b]], 8, 2048, temperature=2.0) for b, e in enumerate(examples)}
    cached = _loss(student, CachedTeacher(_Reader(targets, 8, 2.0)))(batch)
    live = _loss(student, LiveTeacher(teacher, restrict_topk=8))(batch)
    torch.testing.assert_close(cached.loss_sum, live.loss_sum, rtol=1e-5, atol=1e-5)
    full = _loss(student, LiveTeacher(teacher))(batch)
    assert abs(float(full.metrics["kd_sum"] - cached.metrics["kd_sum"])) > 1e-4   # top-k is an approximation


def test_cache_length_mismatch_is_a_user_error(setup):
    from trainers.errors import UserError
    tok, examples, student, teacher = setup
    batch = collate(examples[:1], tok.pad_token_id)
    logits = torch.randn(3, 2048)
    reader = _Reader({examples[0].example_id: compute_topk(logits, 8, 2048, temperature=2.0)}, 8, 2.0)
    with pytest.raises(UserError, match="distill-cache"):
        _loss(student, CachedTeacher(reader))(batch)
