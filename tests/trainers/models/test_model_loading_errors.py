"""Model-loading failures say what failed — missing weights, an unknown architecture, bitsandbytes,
a model not on this machine — in one paragraph with the fix, exit 2, no traceback."""
import json
import shutil

import pytest

from tests.helpers import run_cli
from trainers.models.model_loading import load_failure
from trainers.models.tiny_model import ensure_tiny_model


@pytest.fixture
def broken_models(tmp_path):
    src = ensure_tiny_model("qwen2")
    no_weights = tmp_path / "no_weights"
    shutil.copytree(src, no_weights)
    for f in no_weights.glob("*.safetensors"):
        f.unlink()
    bad_type = tmp_path / "bad_type"
    shutil.copytree(src, bad_type)
    cfg = json.loads((bad_type / "config.json").read_text())
    (bad_type / "config.json").write_text(json.dumps({**cfg, "model_type": "qwen9"}))
    return no_weights, bad_type


@pytest.mark.parametrize("which,needle", [(0, "has a config.json but no weights"),
                                          (1, "names an architecture this transformers cannot build")])
def test_cli_names_the_cause(tmp_path, broken_models, which, needle):
    model = broken_models[which]
    proc = run_cli(["run", "sft", "--config", "smoke/tiny_lora.yaml", f"model.path={model}",
                    f"output.dir={tmp_path / 'runs'}"], cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr[-2000:]
    err = proc.stderr.strip()
    assert needle in err and "Traceback" not in err and "not on this machine" not in err
    assert len([ln for ln in err.splitlines() if ln.startswith("kdtune: error:")]) == 1


def test_each_cause_gets_its_own_message(tmp_path):
    bnb = load_failure("org/model", ImportError("Using `bitsandbytes` 4-bit quantization requires bitsandbytes"))
    assert "quant.load_in_4bit=false" in str(bnb) and "not on this machine" not in str(bnb)
    code = load_failure("org/model", ValueError("requires you to execute code; pass trust_remote_code=True"))
    assert "model.trust_remote_code=true" in str(code)
    missing = load_failure("org/model", OSError("We couldn't connect to 'https://huggingface.co'"))
    assert "not on this machine" in str(missing) and "hf download org/model" in str(missing)
    other = load_failure(str(tmp_path), OSError("permission denied: model.safetensors"))
    assert str(tmp_path) in str(other) and "not on this machine" not in str(other)
