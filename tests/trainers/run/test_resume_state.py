"""Checkpoints that cannot lie: keys checked both ways, the fp16 loss scaler restored, the config
stored and compared key by key on resume (safe keys allowed, every other change listed)."""
import pytest
import torch
import yaml

from trainers.errors import UserError
from trainers.run.checkpoint import load_checkpoint, save_checkpoint
from trainers.run.resume_check import check_resume, config_changes, config_sha256


class Net(torch.nn.Module):
    def __init__(self, names: tuple[str, ...], frozen: tuple[str, ...] = ()):
        super().__init__()
        for n in names + frozen:
            self.register_parameter(n, torch.nn.Parameter(torch.randn(3, 2), requires_grad=n in names))


def _save(tmp_path, model, scaler=None, config_text=None):
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-3)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1.0)
    return save_checkpoint(tmp_path / "checkpoints", 2, model, opt, sched, {"tokens_seen": 5}, 0, True, 2,
                           lambda: None, scaler=scaler, config_text=config_text)


def _load(ckpt, model, scaler=None):
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-3)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1.0)
    return load_checkpoint(ckpt, model, opt, sched, 0, scaler)


def test_round_trip_restores_trainable_weights_only(tmp_path):
    a = Net(("w", "v"), frozen=("base",))
    ckpt = _save(tmp_path, a)
    b = Net(("w", "v"), frozen=("base",))
    state = _load(ckpt, b)
    assert state["step"] == 2 and state["tokens_seen"] == 5
    torch.testing.assert_close(b.w, a.w)
    torch.testing.assert_close(b.v, a.v)
    assert not torch.equal(b.base, a.base)   # frozen weights are not in the checkpoint


def test_saved_tensor_without_a_parameter_is_an_error(tmp_path):
    ckpt = _save(tmp_path, Net(("w", "extra")))
    with pytest.raises(UserError, match=r"1 saved tensors have no parameter in this model \(first: extra\)"):
        _load(ckpt, Net(("w",)))


def test_trainable_parameter_without_a_saved_tensor_is_an_error(tmp_path):
    # It would otherwise keep its fresh initialisation and the "resumed" run would silently differ.
    ckpt = _save(tmp_path, Net(("w",)))
    with pytest.raises(UserError, match=r"1 trainable parameters have no saved tensor \(first: new\)"):
        _load(ckpt, Net(("w", "new")))
    # a frozen parameter that was never saved is fine
    _load(ckpt, Net(("w",), frozen=("new",)))


def test_grad_scaler_state_survives_a_checkpoint(tmp_path):
    scaler = torch.amp.GradScaler("cpu", init_scale=1024.0, growth_interval=3)
    model = Net(("w",))
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    for g in (1.0, float("inf"), 1.0, 1.0):   # one overflow halves the scale; growth tracker counts
        opt.zero_grad()
        scaler.scale((model.w * g).sum()).backward()
        scaler.step(opt)
        scaler.update()
    saved = scaler.state_dict()
    assert saved["scale"] == 512.0 and saved["_growth_tracker"] == 2
    ckpt = _save(tmp_path, model, scaler=scaler)
    fresh = torch.amp.GradScaler("cpu", init_scale=65536.0, growth_interval=3)
    _load(ckpt, Net(("w",)), scaler=fresh)
    assert fresh.state_dict() == saved
    with pytest.raises(UserError, match="no loss-scaler state"):   # saved without fp16, resumed with it
        _load(_save(tmp_path / "other", model), Net(("w",)), scaler=fresh)


CONFIG = {"recipe": "sft", "model": {"path": "tiny:qwen2"},
          "train": {"lr": 0.003, "max_steps": 30, "save_every": 4, "resume": "never"},
          "eval": {"max_batches": 4}, "data": {"path": "builtin:finance"}}


def _changed(**edits) -> str:
    cfg = yaml.safe_load(yaml.safe_dump(CONFIG))
    for dotted, value in edits.items():
        section, key = dotted.split("__")
        cfg[section][key] = value
    return yaml.safe_dump(cfg, sort_keys=False)


def test_checkpoint_stores_its_config_and_hash(tmp_path):
    text = yaml.safe_dump(CONFIG, sort_keys=False)
    ckpt = _save(tmp_path, Net(("w",)), config_text=text)
    assert (ckpt / "config.yaml").read_text() == text
    assert _load(ckpt, Net(("w",)))["config_sha256"] == config_sha256(text)
    assert check_resume(ckpt, text, config_sha256(text)) == {}


def test_resume_with_a_changed_training_key_lists_each_change(tmp_path):
    ckpt = _save(tmp_path, Net(("w",)), config_text=yaml.safe_dump(CONFIG, sort_keys=False))
    with pytest.raises(UserError) as err:
        check_resume(ckpt, _changed(train__lr=0.1, data__path="other.jsonl", train__resume="auto"))
    text = str(err.value)
    assert "train.lr: 0.003 -> 0.1" in text and "data.path: 'builtin:finance' -> 'other.jsonl'" in text
    assert "train.resume: " not in text   # a safe change is not listed as a problem


def test_resume_with_safe_changes_returns_them(tmp_path):
    ckpt = _save(tmp_path, Net(("w",)), config_text=yaml.safe_dump(CONFIG, sort_keys=False))
    changes = check_resume(ckpt, _changed(train__max_steps=40, eval__max_batches=8, train__resume="auto"))
    assert changes == {"eval.max_batches": [4, 8], "train.max_steps": [30, 40], "train.resume": ["never", "auto"]}


def test_config_changes_sees_added_and_removed_keys():
    assert config_changes({"a": {"b": 1}}, {"a": {"b": 1, "c": 5}}) == {"a.c": [None, 5]}
    assert config_changes({"a": {"b": 1, "c": 5}}, {"a": {"b": 1}}) == {"a.c": [5, None]}
    assert config_changes({"a": {"b": [1, 2]}}, {"a": {"b": [1, 3]}}) == {"a.b": [[1, 2], [1, 3]]}


def test_an_unset_key_added_to_the_schema_since_the_checkpoint_is_no_change():
    # a checkpoint written before data.task existed, resumed by a kdtune whose schema has it (null)
    assert config_changes({"data": {"path": "x"}}, {"data": {"path": "x", "task": None}}) == {}
    assert config_changes({"data": {"path": "x", "task": None}}, {"data": {"path": "x"}}) == {}
    assert config_changes({"data": {"path": "x"}}, {"data": {"path": "x", "task": "finance"}}) == \
        {"data.task": [None, "finance"]}
