"""Find a model by hub id or local path, offline-aware, with errors that say how to fix things.

Nothing here downloads when the weights are already cached or local; a missing model on a machine
without network is a UserError naming the model and the two ways to provide it.
"""
from __future__ import annotations

import os
import re
from pathlib import Path

from trainers.errors import UserError

HUB_ID = re.compile(r"^[\w.\-]+/[\w.\-]+$")


def resolve_model_source(path: str, revision: str | None = None) -> tuple[str, bool]:
    """-> (what to pass to from_pretrained, local_files_only)."""
    if path.startswith("tiny:"):
        from trainers.models.tiny_model import ensure_tiny_model
        return str(ensure_tiny_model(path.split(":", 1)[1])), True
    from trainers.models.model_sources import is_model_file_source, resolve_model_file
    if is_model_file_source(path):   # packaged model or .gguf file: converted once into a local cache
        return str(resolve_model_file(path)), True
    local = Path(path).expanduser()
    if local.is_dir():
        if not (local / "config.json").is_file():
            raise UserError(f"model directory {local} has no config.json — is it a transformers model "
                            f"directory (save_pretrained output or a hub snapshot)?")
        return str(local), True
    if not HUB_ID.match(path):
        raise UserError(f"model.path {path!r} is neither an existing directory nor a hub id like "
                        f"'deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B' (or tiny:qwen2 for a smoke model)")
    if _in_hub_cache(path, revision):
        return path, True
    from trainers.models.offline import need_hub
    forced_offline = need_hub(path)   # kdtune leaves offline mode only here, for a download
    if forced_offline:
        raise UserError(_missing_message(path, forced_offline))
    unreachable = hub_unreachable()
    if unreachable:
        raise UserError(_missing_message(path, unreachable))
    return path, False


def check_model_sources(*models) -> None:
    """Each model is a local directory, cached, or its hub reachable now — else the how-to-copy-it
    error at once (tiny models are built later, once per node, with the model)."""
    for m in models:
        if not m.path.startswith("tiny:"):
            resolve_model_source(m.path, m.revision)


def hub_unreachable(timeout: float = 2.0) -> str | None:
    """Why the hub cannot be reached now, or None. One bounded TCP connect (to the proxy when one
    is set) instead of huggingface_hub's retry loop, which spends 30-70 s on a machine without
    network before giving the same answer."""
    import socket
    import threading
    from urllib.parse import urlparse

    from huggingface_hub import constants
    proxy = next((os.environ[k] for k in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy")
                  if os.environ.get(k)), None)
    url = urlparse(proxy if proxy and "://" in proxy else f"http://{proxy}" if proxy else constants.ENDPOINT)
    host, port = url.hostname or "", url.port or (443 if url.scheme == "https" else 80)
    outcome: list = []

    def connect():   # in a thread: socket timeouts do not bound the DNS lookup
        try:
            socket.create_connection((host, port), timeout=timeout).close()
            outcome.append(None)
        except OSError as e:
            outcome.append(f"{host}:{port} unreachable: {e.strerror or e}")
    probe = threading.Thread(target=connect, daemon=True)
    probe.start()
    probe.join(timeout + 0.5)
    return outcome[0] if outcome else f"{host}:{port} did not answer within {timeout:.0f} s"


def _in_hub_cache(repo_id: str, revision: str | None) -> bool:
    from huggingface_hub import try_to_load_from_cache
    try:
        found = try_to_load_from_cache(repo_id, "config.json", revision=revision)
    except Exception:
        return False
    return isinstance(found, str)


def _missing_message(repo_id: str, why: str) -> str:
    return (f"model '{repo_id}' is not on this machine and cannot be downloaded ({why}). Either copy "
            f"it here — on a connected machine run `hf download {repo_id} --local-dir DIR`, move DIR "
            f"over and set model.path=DIR — or run where the hub is reachable. To smoke-test the "
            f"recipe without the weights, add --smoke.")


def load_pretrained(loader, source: str, local_only: bool, **kwargs):
    """Call `loader.from_pretrained`, turning a failure the user can fix into a UserError that
    says what actually failed (see `load_failure`)."""
    try:
        return loader.from_pretrained(source, local_files_only=local_only, **kwargs)
    except (OSError, ValueError, ImportError, KeyError) as e:
        raise load_failure(source, e) from None


WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin",
                "pytorch_model.bin.index.json")


def load_failure(source: str, error: BaseException) -> UserError:
    """Name the cause: quantisation libraries, a config transformers cannot read, remote code,
    weights missing from a local directory — and "not on this machine" only when the model really
    is missing, never for every OSError."""
    text = str(error).strip()
    first = text.splitlines()[0] if text else type(error).__name__
    low = text.lower()
    local = Path(source).expanduser()
    if "bitsandbytes" in low:
        return UserError(f"loading '{source}' in 4 bits (quant.load_in_4bit) needs a working bitsandbytes: "
                         f"{first}. Install it (`pip install bitsandbytes`) "
                         f"or set quant.load_in_4bit=false to load unquantised")
    if "trust_remote_code" in low or "auto_map" in low:
        return UserError(f"model '{source}' ships its own code; set model.trust_remote_code=true if you "
                         f"trust it")
    if "does not recognize this architecture" in low or "model type" in low or isinstance(error, KeyError):
        return UserError(f"the config.json of '{source}' names an architecture this transformers cannot "
                         f"build ({first}); upgrade transformers, set model.trust_remote_code=true if the "
                         f"model ships code, or fix model_type in config.json")
    if local.is_dir():
        if isinstance(error, OSError) and not any((local / f).is_file() for f in WEIGHT_FILES) \
                and "tokenizer" not in low:
            return UserError(f"model directory {local} has a config.json but no weights (none of "
                             f"{', '.join(WEIGHT_FILES)}); copy the weight files next to it")
        return UserError(f"could not load the model in {local}: {first}")
    if isinstance(error, OSError):
        return UserError(_missing_message(source, first))
    return UserError(f"could not load model '{source}': {first}")
