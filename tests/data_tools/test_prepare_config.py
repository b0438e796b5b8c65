"""Config: unknown keys are errors naming file, key path and the closest known key."""

from pathlib import Path

import pytest
import yaml

from data_tools.errors import DataError
from data_tools.prepare_config import PrepareConfig, default_config, load_prepare_config

CONFIG_DIR = Path(__file__).resolve().parents[2] / "configs" / "data"


def write(tmp_path, text):
    path = tmp_path / "c.yaml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize("path", sorted(CONFIG_DIR.glob("*.yaml")), ids=lambda p: p.name)
def test_every_shipped_config_validates(path):
    cfg = load_prepare_config(path)
    assert cfg.inputs and cfg.output.dir


def test_default_yaml_equals_the_code_defaults():
    cfg = load_prepare_config(CONFIG_DIR / "default.yaml")
    defaults = default_config([cfg.inputs[0].path], cfg.output.dir)
    assert cfg.model_dump() == defaults.model_dump()


def test_unknown_nested_key_names_file_path_and_suggestion(tmp_path):
    path = write(tmp_path, "inputs: [{path: a.jsonl}]\nquality:\n  min_hangul_ration: 0.5\n")
    with pytest.raises(DataError) as err:
        load_prepare_config(path)
    assert str(err.value) == f"{path}: quality.min_hangul_ration: unknown key (did you mean 'min_hangul_ratio'?)"


def test_unknown_key_inside_a_list_item(tmp_path):
    path = write(tmp_path, "inputs:\n  - path: a.jsonl\n    adaptor: kmmlu\n")
    with pytest.raises(DataError, match=r"inputs\.0\.adaptor: unknown key \(did you mean 'adapter'\?\)"):
        load_prepare_config(path)


def test_bad_values_and_missing_keys(tmp_path):
    with pytest.raises(DataError, match=r"pii\.mode: .*'mask', 'pseudonymize' or 'drop'"):
        load_prepare_config(write(tmp_path, "inputs: [{path: a}]\npii: {mode: hide}\n"))
    with pytest.raises(DataError, match=r"inputs: required key is missing"):
        load_prepare_config(write(tmp_path, "name: x\n"))
    with pytest.raises(DataError, match=r"unknown field name 'outptu' \(did you mean 'output'\?\)"):
        load_prepare_config(write(tmp_path, "inputs: [{path: a, fields: {outptu: 답변}}]\n"))
    with pytest.raises(DataError, match="not valid YAML"):
        load_prepare_config(write(tmp_path, "inputs: [\n"))
    with pytest.raises(DataError, match="config file not found"):
        load_prepare_config(tmp_path / "missing.yaml")


def test_overrides(tmp_path):
    path = write(tmp_path, yaml.safe_dump({"inputs": [{"path": "a.jsonl"}]}))
    cfg = load_prepare_config(path, ["output.dir=/tmp/o", "inputs.0.split=eval", "dedup.near=false",
                                     "quality.min_chars=3"])
    assert (cfg.output.dir, cfg.inputs[0].split, cfg.dedup.near, cfg.quality.min_chars) == ("/tmp/o", "eval", False, 3)
    with pytest.raises(DataError, match="not an index"):
        load_prepare_config(path, ["inputs.3.path=x"])
    with pytest.raises(DataError, match="dotted.key=value"):
        load_prepare_config(path, ["output.dir"])
    with pytest.raises(DataError, match="did you mean 'workers'"):
        load_prepare_config(path, ["worker=2"])


def test_workers_default_to_available_cores():
    cfg = PrepareConfig(inputs=[{"path": "a"}])
    assert cfg.resolved_workers() >= 1
    assert PrepareConfig(inputs=[{"path": "a"}], workers=3).resolved_workers() == 3
