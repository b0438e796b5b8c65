"""Precision is decided in one place; training, inference, meter and planner agree on every device."""
import subprocess
import sys

import pytest
import torch

from trainers.compute.hardware import CATALOGUE, catalogue_precision
from trainers.errors import UserError
from trainers.models.precision import PRECISIONS, choose_precision, inference_setup, precision_on, torch_dtype


@pytest.mark.parametrize("requested", ["auto", *PRECISIONS])
def test_the_rule(requested):
    assert precision_on(requested, gpu=False, bf16=True) == "fp32"
    assert precision_on(requested, gpu=True, bf16=True) == ("bf16" if requested == "auto" else requested)
    expected_no_bf16 = {"auto": "fp16", "bf16": "fp16", "fp16": "fp16", "fp32": "fp32"}[requested]
    assert precision_on(requested, gpu=True, bf16=False) == expected_no_bf16


def test_catalogue_cards_follow_the_rule():
    seen = {catalogue_precision(gpu) for gpu in CATALOGUE.values()}
    assert seen == {"bf16", "fp16", "fp32"}    # Ampere+, T4, CPU


def test_cpu_training_and_inference():
    cpu = torch.device("cpu")
    assert choose_precision("auto", cpu) == "fp32"
    for req in ("bf16", "fp16"):
        with pytest.raises(UserError, match="needs a GPU"):
            choose_precision(req, cpu)
    if not torch.cuda.is_available():
        assert inference_setup() == ("fp32", torch.float32, cpu)


def test_dtype_map():
    assert [torch_dtype(p) for p in PRECISIONS] == [torch.bfloat16, torch.float16, torch.float32]
    with pytest.raises(UserError, match="bf16, fp16, fp32"):
        torch_dtype("float16")


def test_the_planner_side_needs_no_torch():
    code = ("import sys; from trainers.models.precision import precision_on; from trainers.compute.hardware import "
            "catalogue_precision, get_gpu; catalogue_precision(get_gpu('t4-16gb')); "
            "assert 'torch' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)
