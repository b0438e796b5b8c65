"""Hermetic test environment: tiny models are built into a per-session cache, never downloaded."""
import os
from pathlib import Path
import pytest

@pytest.fixture(scope="session", autouse=True)
def _kdtune_cache(tmp_path_factory):
    cache = tmp_path_factory.mktemp("kdtune_cache")
    old = os.environ.get("KDTUNE_CACHE")
    os.environ["KDTUNE_CACHE"] = str(cache)
    os.environ["HF_HUB_OFFLINE"] = "1"
    # Real models converted from pip-packaged GGUF files are keyed by the file's sha256, so they are
    # shared across sessions: converting Gemma 3 270M again would cost 1-3 minutes per session.
    os.environ.setdefault("KDTUNE_MODEL_CACHE", str(Path.home() / ".cache" / "kdtune" / "models"))
    yield cache
    if old is None:
        os.environ.pop("KDTUNE_CACHE", None)
    else:
        os.environ["KDTUNE_CACHE"] = old


def pytest_collection_modifyitems(config, items):
    """Tests marked `gpu` run wherever CUDA is available and are skipped (with the reason) elsewhere,
    so CPU CI stays green and a GPU machine runs them with the same `pytest` command."""
    gpu_items = [item for item in items if item.get_closest_marker("gpu")]
    if not gpu_items:
        return
    import torch   # only when gpu tests were collected: data_tools tests stay torch-free
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs CUDA (marked gpu); runs wherever a GPU is available")
    for item in gpu_items:
        item.add_marker(skip)
