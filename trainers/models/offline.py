"""Offline mode: kdtune tells the hub libraries not to use the network unless a model must be fetched.

Clients choose on-premise fine-tuning so that their data talks to no one. kdtune needs the network
for one thing only, downloading a hub model that is not on this machine; so every `kdtune` command
starts offline (`enter_offline_mode`, called by recipes/cli.py) and leaves it only when
`resolve_model_source` meets a hub id missing from the cache (`need_hub`). Offline means:
HF_HUB_OFFLINE, TRANSFORMERS_OFFLINE and HF_DATASETS_OFFLINE set to 1 for this process and its
children (torchrun workers, data workers), and the flags huggingface_hub and datasets read at import
patched when they were imported already. A user who set HF_HUB_OFFLINE=1 themselves keeps it: a
missing model is then an error, never a download; HF_HUB_OFFLINE=0 keeps kdtune online.

Every manifest records the outcome (`network_facts`, via run_dir.environment_facts):
{"offline": true, "offline_how": "..."} or {"offline": false, "offline_how": "why not"}.
"""
from __future__ import annotations

import os
import sys

ENV_VARS = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE")
# The value kdtune gave HF_HUB_OFFLINE, so that child processes (torchrun workers run the CLI again)
# know the flag is kdtune's decision, not the user's, and decide afresh. A flag changed since (by the
# user, or a test's monkeypatch) no longer matches it and counts as the user's.
MARKER = "KDTUNE_SET_HF_HUB_OFFLINE"
_TRUE = {"1", "ON", "YES", "TRUE"}

# One process, one state: who decided, and what the manifest should say.
_state = {"offline": False, "by": None, "how": "kdtune did not set offline mode (not run through the kdtune CLI)"}


def user_choice() -> bool | None:
    """True/False when the user set HF_HUB_OFFLINE or TRANSFORMERS_OFFLINE, else None."""
    if os.environ.get(MARKER) is not None and os.environ.get(MARKER) == os.environ.get(ENV_VARS[0]):
        return None
    values = [os.environ[k] for k in ENV_VARS[:2] if os.environ.get(k, "").strip()]
    if not values:
        return None
    return any(v.strip().upper() in _TRUE for v in values)


def _set_flags(offline: bool, mine: bool = True) -> None:
    value = "1" if offline else "0"
    for key in ENV_VARS:
        os.environ[key] = value
    if mine:
        os.environ[MARKER] = value
    else:
        os.environ.pop(MARKER, None)
    # Both libraries read the variables once, at import; they check these attributes per request.
    if "huggingface_hub.constants" in sys.modules:
        sys.modules["huggingface_hub.constants"].HF_HUB_OFFLINE = offline
    if "datasets.config" in sys.modules:
        cfg = sys.modules["datasets.config"]
        cfg.HF_HUB_OFFLINE = offline
        cfg.HF_DATASETS_OFFLINE = offline


def enter_offline_mode() -> None:
    """Go offline unless the user chose otherwise. Cheap, idempotent; call before any model loads."""
    choice = user_choice()
    if choice is None:
        _set_flags(True)
        _state.update(offline=True, by="kdtune",
                      how="kdtune set HF_HUB_OFFLINE=1, TRANSFORMERS_OFFLINE=1, HF_DATASETS_OFFLINE=1: "
                          "every model was found on this machine, so no hub request was allowed")
    elif choice:
        _set_flags(True, mine=False)
        _state.update(offline=True, by="user",
                      how="HF_HUB_OFFLINE/TRANSFORMERS_OFFLINE=1 set by the user; kdtune kept it")
    else:
        _state.update(offline=False, by="user", how="HF_HUB_OFFLINE=0 set by the user: hub requests allowed")


def need_hub(repo_id: str) -> str | None:
    """A hub model is missing from the cache. Returns why it cannot be fetched (the user forced
    offline mode), or None after going online for the download, recorded for the manifest."""
    if user_choice():   # read afresh: the environment is the user's word, inside the CLI or not
        return "HF_HUB_OFFLINE is set"
    _set_flags(False)
    _state.update(offline=False, by="kdtune",
                  how=f"online: {repo_id} was not in the hub cache and had to be downloaded")
    return None


def network_facts() -> dict:
    """For manifest.json: whether the hub libraries were kept offline for the whole run, and how."""
    return {"offline": _state["offline"], "offline_how": _state["how"]}
