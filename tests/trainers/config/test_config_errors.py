"""Config errors name the place the user must edit: the base file (however deep) that holds a typo,
or the command-line override that introduced it — never a file that does not contain it."""
import pytest

from tests.helpers import run_cli
from trainers.config import load_config
from trainers.errors import ConfigError


def write(dir_, name, text):
    path = dir_ / name
    path.write_text(text, encoding="utf-8")
    return path


def chain(tmp_path):
    """child.yaml -> parent.yaml -> grand.yaml; the typo sits in the grand-base only."""
    grand = write(tmp_path, "grand.yaml", "recipe: sft\nmodel: {path: tiny:qwen2}\ndata: {path: x}\n"
                                         "train: {max_stepz: 3}\n")
    parent = write(tmp_path, "parent.yaml", "base: grand.yaml\ntrain: {lr: 1.0e-4}\n")
    child = write(tmp_path, "child.yaml", "base: parent.yaml\nlora: {enabled: true}\n")
    return grand, parent, child


def test_typo_in_a_grand_base_is_reported_in_that_file(tmp_path):
    grand, parent, child = chain(tmp_path)
    with pytest.raises(ConfigError) as e:
        load_config(child)
    line = next(ln for ln in str(e.value).splitlines() if "max_stepz" in ln)
    assert str(grand) in line and str(parent) not in line and "did you mean 'train.max_steps'" in line


def test_a_key_the_child_overrides_is_reported_in_the_child(tmp_path):
    grand, parent, child = chain(tmp_path)
    write(tmp_path, "child.yaml", "base: parent.yaml\ntrain: {max_stepz: 5}\n")
    with pytest.raises(ConfigError) as e:
        load_config(child)
    line = next(ln for ln in str(e.value).splitlines() if "max_stepz" in ln)
    assert str(child) in line and str(grand) not in line


@pytest.mark.parametrize("override,key", [
    ("train.max_stepz=3", "unknown key 'train.max_stepz'"),     # a typo in a known section
    ("trainn.max_steps=3", "unknown key 'trainn'"),             # a typo in the section name itself
    ("train.max_steps.x=3", "'train.max_steps'"),               # a scalar turned into a section
    ("train.max_steps=abc", "'train.max_steps'"),               # a wrong type
])
def test_command_line_typos_are_blamed_on_the_override(override, key):
    with pytest.raises(ConfigError) as e:
        load_config("smoke/tiny_lora.yaml", [override])
    msg = str(e.value)
    line = next(ln for ln in msg.splitlines() if key in ln)
    assert f"the command-line override '{override}'" in line and "tiny_lora.yaml" not in line


def test_a_list_item_is_set_by_index_and_a_bad_index_is_refused():
    cfg = load_config("smoke/tiny_lora.yaml", ["lora.target_modules=[q_proj, v_proj]"])
    assert cfg.lora.target_modules == ["q_proj", "v_proj"]
    with pytest.raises(ConfigError, match="command line: override 'lora.target_modules.5=k_proj'.*not an index"):
        load_config("smoke/tiny_lora.yaml", ["lora.target_modules=[q_proj]", "lora.target_modules.5=k_proj"])


def test_cli_reports_grand_base_and_override_typos_in_one_paragraph_exit_2(tmp_path):
    grand, _, child = chain(tmp_path)
    proc = run_cli(["validate", "--config", str(child), "lora.rnak=4"], cwd=tmp_path)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert f"unknown key 'train.max_stepz' in {grand}" in proc.stderr
    assert "unknown key 'lora.rnak' in the command-line override 'lora.rnak=4'" in proc.stderr
