"""Typed configs: every shipped YAML validates; bad configs fail with the key and the file named."""
from pathlib import Path

import pytest
import yaml

from tests.helpers import ROOT, run_cli
from trainers.config import SFTConfig, load_config
from trainers.config.loader import CONFIG_ROOT
from trainers.errors import ConfigError

RECIPE_FILES = sorted(p for p in CONFIG_ROOT.rglob("*.yaml")
                      if not p.relative_to(CONFIG_ROOT).parts[0].startswith("_")
                      and p.relative_to(CONFIG_ROOT).parts[0] != "data")


def test_there_are_shipped_configs():
    names = {p.relative_to(CONFIG_ROOT).as_posix() for p in RECIPE_FILES}
    assert "smoke/tiny_lora.yaml" in names and "smoke/tiny_qlora.yaml" in names
    for domain in ("manufacturing", "finance", "healthcare"):
        for size in ("1.5b", "7b"):
            assert any(n.startswith(f"{domain}/r1-distill-qwen-{size}_qlora_") for n in names), (domain, size)
            assert any(n.startswith(f"{domain}/r1-distill-qwen-{size}_lora_") for n in names), (domain, size)


@pytest.mark.parametrize("path", RECIPE_FILES, ids=lambda p: p.relative_to(CONFIG_ROOT).as_posix())
def test_every_shipped_config_validates(path):
    cfg = load_config(path)
    assert cfg.recipe == yaml.safe_load(path.read_text())["recipe"]
    if "qlora" in path.stem:
        assert cfg.quant.load_in_4bit and cfg.lora.enabled
    elif "_lora" in path.stem:
        assert cfg.lora.enabled and not cfg.quant.load_in_4bit


def write(tmp: Path, name: str, text: str) -> Path:
    p = tmp / name
    p.write_text(text)
    return p


def test_base_inheritance_and_overrides(tmp_path):
    write(tmp_path, "base.yaml", "model: {path: tiny:qwen2}\ndata: {path: builtin:finance}\ntrain: {lr: 0.1, grad_accum: 4}\n")
    child = write(tmp_path, "child.yaml", "recipe: sft\nbase: base.yaml\ntrain: {lr: 0.01}\n")
    cfg = load_config(child, ["train.max_steps=8", "lora.enabled=true"])
    assert isinstance(cfg, SFTConfig)
    assert cfg.train.lr == 0.01 and cfg.train.grad_accum == 4 and cfg.train.max_steps == 8
    assert cfg.lora.enabled and cfg.method == "lora"


def test_unknown_key_names_key_file_and_suggestion(tmp_path):
    bad = write(tmp_path, "bad.yaml", "recipe: sft\nmodel: {path: tiny:qwen2}\ndata: {path: x}\ntrain: {learning_rat: 0.1, lr: 1e-3}\n")
    with pytest.raises(ConfigError) as e:
        load_config(bad)
    msg = str(e.value)
    assert "train.learning_rat" in msg and str(bad) in msg


def test_typo_gets_did_you_mean(tmp_path):
    bad = write(tmp_path, "bad.yaml", "recipe: sft\nmodel: {path: tiny:qwen2}\ndata: {path: x}\ntrain: {max_step: 3}\n")
    with pytest.raises(ConfigError, match=r"did you mean 'train.max_steps'"):
        load_config(bad)


def test_error_points_at_the_base_file_holding_the_bad_key(tmp_path):
    base = write(tmp_path, "base.yaml", "lora: {rank: 8}\n")
    child = write(tmp_path, "child.yaml", "recipe: sft\nbase: base.yaml\nmodel: {path: tiny:qwen2}\ndata: {path: x}\n")
    with pytest.raises(ConfigError) as e:
        load_config(child)
    assert "lora.rank" in str(e.value) and str(base) in str(e.value)


def test_wrong_type_and_range(tmp_path):
    cfg = write(tmp_path, "c.yaml", "recipe: sft\nmodel: {path: tiny:qwen2}\ndata: {path: x}\n")
    with pytest.raises(ConfigError, match=r"'train.max_steps' in the command-line override 'train.max_steps=abc'"):
        load_config(cfg, ["train.max_steps=abc"])
    with pytest.raises(ConfigError, match=r"'lora.dropout'"):
        load_config(cfg, ["lora.dropout=1.5"])
    with pytest.raises(ConfigError, match=r"missing required key 'model'"):
        load_config(write(tmp_path, "m.yaml", "recipe: sft\ndata: {path: x}\n"))


def test_qlora_requires_lora(tmp_path):
    cfg = write(tmp_path, "c.yaml", "recipe: sft\nmodel: {path: tiny:qwen2}\ndata: {path: x}\nquant: {load_in_4bit: true}\n")
    with pytest.raises(ConfigError, match="needs lora.enabled") as e:
        load_config(cfg)
    assert str(cfg) in str(e.value) and "{" not in str(e.value)   # names the file, no raw dict dump


def test_missing_file_and_bad_override_syntax(tmp_path):
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "nope.yaml")
    with pytest.raises(ConfigError, match="dotted.key=value"):
        load_config("smoke/tiny_lora.yaml", ["train.max_steps"])


@pytest.mark.parametrize("content,overrides,needle", [
    ("recipe: sft\nmodel: {path: tiny:qwen2}\ndata: {path: x}\ntrian: {lr: 1}\n", [], "unknown key 'trian'"),
    ("recipe: sft\nmodel: {path: tiny:qwen2}\ndata: {path: x}\n", ["train.lr=fast"], "train.lr"),
    (None, [], "config file not found"),
])
def test_cli_exits_2_with_one_paragraph_and_no_traceback(tmp_path, content, overrides, needle):
    path = tmp_path / "cfg.yaml"
    if content is not None:
        path.write_text(content)
    for cmd in (["validate", "--config", str(path), *overrides],
                ["run", "sft", "--config", str(path), *overrides]):
        proc = run_cli(cmd, cwd=tmp_path)
        assert proc.returncode == 2, proc.stderr
        assert needle in proc.stderr and "Traceback" not in proc.stderr
        assert str(path) in proc.stderr or "command line" in proc.stderr


def test_validate_prints_resolved_config(tmp_path):
    proc = run_cli(["validate", "--config", "smoke/tiny_lora.yaml", "train.max_steps=3"], cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    resolved = yaml.safe_load(proc.stdout)
    assert resolved["train"]["max_steps"] == 3 and resolved["lora"]["enabled"] is True


def test_cp_copies_a_self_contained_config(tmp_path):
    proc = run_cli(["cp", "smoke/tiny_qlora.yaml", str(tmp_path / "mine.yaml")], cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    copied = load_config(tmp_path / "mine.yaml")
    assert copied == load_config("smoke/tiny_qlora.yaml")
    assert run_cli(["cp", "smoke/tiny_qlora.yaml", str(tmp_path / "mine.yaml")], cwd=ROOT).returncode == 2


def test_readme_documents_every_shared_config_key():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for section in ("model", "lora", "quant", "data", "train", "eval", "output", "compute"):
        cls = SFTConfig.model_fields[section].annotation
        for key in cls.model_fields:
            assert f"`{section}.{key}`" in readme, f"README config reference lacks {section}.{key}"
