"""Hermetic test environment: tiny models are built into a per-session cache, never downloaded."""
import os
import pytest

@pytest.fixture(scope="session", autouse=True)
def _kdtune_cache(tmp_path_factory):
    cache = tmp_path_factory.mktemp("kdtune_cache")
    old = os.environ.get("KDTUNE_CACHE")
    os.environ["KDTUNE_CACHE"] = str(cache)
    os.environ["HF_HUB_OFFLINE"] = "1"
    yield cache
    if old is None:
        os.environ.pop("KDTUNE_CACHE", None)
    else:
        os.environ["KDTUNE_CACHE"] = old
