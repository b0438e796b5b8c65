"""The one override grammar: YAML values, list indexes, created sections, and what it refuses."""
import pytest

from data_tools.overrides import OverrideError, apply_override, parse_override


def test_values_parse_as_yaml_and_fall_back_to_text():
    assert parse_override("train.lr=1e-4") == (["train", "lr"], 1e-4)
    assert parse_override("lora.target_modules=[q_proj, v_proj]")[1] == ["q_proj", "v_proj"]
    assert parse_override("a.b=true")[1] is True and parse_override("a.b=")[1] == ""
    assert parse_override("data.path=[unclosed")[1] == "[unclosed"      # not YAML: kept as typed


def test_sections_are_created_lists_indexed_scalars_replaced():
    raw = {"inputs": [{"path": "a"}, {"path": "b"}], "train": {"max_steps": 3}}
    assert apply_override(raw, "inputs.1.path=c") == [["inputs", "1", "path"]]
    assert apply_override(raw, "output.dir=o") == [["output"], ["output", "dir"]]
    assert apply_override(raw, "train.max_steps.x=1") == [["train", "max_steps"], ["train", "max_steps", "x"]]
    assert raw == {"inputs": [{"path": "a"}, {"path": "c"}], "train": {"max_steps": {"x": 1}},
                   "output": {"dir": "o"}}


@pytest.mark.parametrize("item,needle", [
    ("train.max_steps", "dotted.key=value"), ("=3", "dotted.key=value"),
    ("train..lr=1", "empty key segment"), ("inputs.2.path=x", "not an index"), ("inputs.a=x", "not an index"),
])
def test_malformed_overrides_are_refused(item, needle):
    with pytest.raises(OverrideError, match=needle):
        apply_override({"inputs": [{"path": "a"}]}, item)
