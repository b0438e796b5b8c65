"""Offline mode: who set the hub flags decides whether a missing model may be downloaded, the
libraries already imported see the change, and the manifest facts say what happened."""
import pytest

from trainers.models import offline

FLAGS = (*offline.ENV_VARS, offline.MARKER)


@pytest.fixture
def clean_env(monkeypatch):
    """No hub flag set; huggingface_hub's and datasets' import-time copies restored afterwards."""
    import datasets.config
    from huggingface_hub import constants
    for key in FLAGS:   # set first, so that teardown restores even a variable that was absent
        monkeypatch.setenv(key, "x")
        monkeypatch.delenv(key)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(offline, "_state", dict(offline._state))
    return monkeypatch


def test_kdtune_goes_offline_and_back_online_only_for_a_download(clean_env):
    import datasets.config
    from huggingface_hub import constants, is_offline_mode
    offline.enter_offline_mode()
    assert all(offline.os.environ[k] == "1" for k in offline.ENV_VARS)
    assert is_offline_mode() and datasets.config.HF_HUB_OFFLINE   # imported before: patched too
    assert offline.network_facts()["offline"] is True
    assert offline.network_facts()["offline_how"].startswith("kdtune set HF_HUB_OFFLINE=1")
    assert offline.user_choice() is None                          # the flag is kdtune's own
    assert offline.need_hub("org/model") is None                  # so a download may go online
    assert not constants.HF_HUB_OFFLINE and offline.os.environ["HF_HUB_OFFLINE"] == "0"
    assert offline.network_facts() == {
        "offline": False, "offline_how": "online: org/model was not in the hub cache and had to be downloaded"}


def test_a_users_offline_flag_is_never_lifted(clean_env):
    clean_env.setenv("HF_HUB_OFFLINE", "1")
    offline.enter_offline_mode()
    assert offline.network_facts()["offline"] is True
    assert "set by the user" in offline.network_facts()["offline_how"]
    assert offline.need_hub("org/model") == "HF_HUB_OFFLINE is set"
    # kdtune's marker from an earlier decision does not make a flag changed since kdtune's
    clean_env.setenv(offline.MARKER, "0")
    assert offline.user_choice() is True and offline.need_hub("org/model") == "HF_HUB_OFFLINE is set"


def test_a_user_may_keep_kdtune_online(clean_env):
    clean_env.setenv("TRANSFORMERS_OFFLINE", "0")
    offline.enter_offline_mode()
    assert offline.network_facts()["offline"] is False
    assert "HF_HUB_OFFLINE" not in offline.os.environ
