"""Offline teacher cache: the teacher's top-k log-probabilities per token, in sharded safetensors.

`kdtune run distill-cache` runs the teacher once over the training set and writes, per example, the
top-k token ids, their log-probabilities and the tail mass (kd_topk.py defines them); `kdtune run
distill` then reads this cache and never loads the teacher. At k = 64 that is ~200 bytes a token
instead of a 7B model on the GPU.

Layout of a cache directory:
    shard-00000.safetensors   "indices" [S, k] int32, "logprobs" [S, k] fp16|bf16, "tail_logprob" [S]
                              fp16|bf16, plus metadata naming the examples it holds (id, offset,
                              length) and the settings it was written with
    shard-00001.safetensors   ...
    index.json                written LAST, by close(): its presence means the cache is complete
Every file is written under a temporary name and renamed into place, so a killed writer leaves only
whole shards. A writer reopened on the same directory reads those shards' metadata and skips the
examples they hold (`example_id in writer` lets the caller skip the teacher forward pass too).
An example is never split across shards; a shard is flushed once it holds >= shard_size_tokens.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Iterator

import torch
from safetensors import safe_open
from safetensors.torch import save_file
from torch import Tensor

from data_tools.atomic import atomic_write_json, honour_umask
from trainers.errors import UserError
from trainers.losses.kd_topk import LOGPROB_FLOOR, TopKTargets, compute_topk

__all__ = ["TopKCacheReader", "TopKCacheWriter", "TopKTargets", "compute_topk", "INDEX_NAME"]

INDEX_NAME = "index.json"
FORMAT = "kdtune-topk-cache"
VERSION = 1
STORAGE_DTYPES = {"float16": torch.float16, "bfloat16": torch.bfloat16}
REQUIRED_META = ("teacher", "vocab_size", "temperature")


class TopKCacheWriter:
    """Appends examples' top-k targets to shards; `close()` (or leaving a `with` block without an
    error) writes index.json. `meta` must hold "teacher" (hub id or path), "vocab_size" (the shared
    real vocabulary) and "temperature" (at which the log-probabilities were computed); any other
    JSON-serialisable keys are kept too. Reopening a directory written with other settings fails."""

    def __init__(self, out_dir: str | os.PathLike, k: int, shard_size_tokens: int,
                 meta: dict[str, Any], *, dtype: str = "float16") -> None:
        missing = [key for key in REQUIRED_META if key not in meta]
        if missing:
            raise ValueError(f"cache meta lacks {', '.join(missing)} (needs {', '.join(REQUIRED_META)})")
        if dtype not in STORAGE_DTYPES:
            raise ValueError(f"cache dtype must be one of {', '.join(STORAGE_DTYPES)}, got {dtype!r}")
        if k < 1 or shard_size_tokens < 1:
            raise ValueError(f"k and shard_size_tokens must be >= 1, got {k} and {shard_size_tokens}")
        self.dir = Path(out_dir)
        self.k, self.dtype, self.meta = k, dtype, dict(meta)
        self.shard_size_tokens = shard_size_tokens
        # Settings that must match for shards to be mixed; compared as canonical JSON strings.
        self._settings = json.dumps({"k": k, "dtype": dtype, "meta": self.meta}, sort_keys=True)
        self._examples: dict[int, tuple[str, int, int]] = {}  # id -> (shard, offset, length)
        self._buffer: list[tuple[int, Tensor, Tensor, Tensor]] = []
        self._buffered_ids: set[int] = set()
        self._buffered_tokens = 0
        self._next_shard = 0
        self._closed = False
        self.dir.mkdir(parents=True, exist_ok=True)
        self._resume()

    def _resume(self) -> None:
        """Adopt the whole shards already in the directory (a previous, interrupted or complete run)."""
        for tmp in self.dir.glob("*.tmp"):  # half-written files of a killed writer
            tmp.unlink()
        for path in sorted(self.dir.glob("shard-*.safetensors")):
            with safe_open(path, framework="pt") as f:
                info = f.metadata() or {}
            if info.get("settings") != self._settings:
                raise UserError(
                    f"{self.dir} already holds a top-k cache written with other settings "
                    f"({path.name}: {info.get('settings')}; now: {self._settings}); "
                    "choose a new output directory or delete the old one")
            for ex_id, offset, length in json.loads(info["examples"]):
                self._examples[ex_id] = (path.name, offset, length)
            self._next_shard = max(self._next_shard, int(path.stem.split("-")[1]) + 1)

    def __contains__(self, example_id: int) -> bool:
        return example_id in self._examples or example_id in self._buffered_ids

    @property
    def num_examples(self) -> int:
        return len(self._examples) + len(self._buffer)

    def add(self, example_id: int, topk_indices: Tensor, topk_logprobs: Tensor,
            tail_logprob: Tensor) -> bool:
        """Buffer one example ([T, k], [T, k], [T]); returns False (and stores nothing) if the
        cache already holds this id."""
        if self._closed:
            raise RuntimeError("TopKCacheWriter.add after close()")
        if example_id in self:
            return False
        t = topk_indices.shape[0]
        if topk_indices.shape != (t, self.k) or topk_logprobs.shape != (t, self.k) \
                or tail_logprob.shape != (t,):
            raise ValueError(
                f"example {example_id}: expected indices/logprobs [T, {self.k}] and tail [T], got "
                f"{tuple(topk_indices.shape)}, {tuple(topk_logprobs.shape)}, {tuple(tail_logprob.shape)}")
        store = STORAGE_DTYPES[self.dtype]
        # The floor keeps fp16 finite (its range ends at -65504) and matches what kd_topk produces.
        self._buffer.append((
            int(example_id),
            topk_indices.detach().to("cpu", torch.int32),
            topk_logprobs.detach().float().clamp_min(LOGPROB_FLOOR).to("cpu", store),
            tail_logprob.detach().float().clamp_min(LOGPROB_FLOOR).to("cpu", store)))
        self._buffered_ids.add(int(example_id))
        self._buffered_tokens += t
        if self._buffered_tokens >= self.shard_size_tokens:
            self._flush()
        return True

    def add_targets(self, example_id: int, targets: TopKTargets) -> bool:
        """`add` for a TopKTargets (e.g. from compute_topk), checking its temperature."""
        if abs(targets.temperature - float(self.meta["temperature"])) > 1e-6:
            raise ValueError(f"targets at temperature {targets.temperature}, cache meta says "
                             f"{self.meta['temperature']}")
        return self.add(example_id, targets.indices, targets.logprobs, targets.tail_logprob)

    def _flush(self) -> None:
        if not self._buffer:
            return
        # New data is about to make an existing index stale: remove it first, so a crash from here
        # on cannot leave an index that claims completeness for a cache it does not describe.
        (self.dir / INDEX_NAME).unlink(missing_ok=True)
        name = f"shard-{self._next_shard:05d}.safetensors"
        rows, offset = [], 0
        for ex_id, ix, _, _ in self._buffer:
            rows.append([ex_id, offset, ix.shape[0]])
            offset += ix.shape[0]
        tensors = {"indices": torch.cat([b[1] for b in self._buffer]),
                   "logprobs": torch.cat([b[2] for b in self._buffer]),
                   "tail_logprob": torch.cat([b[3] for b in self._buffer])}
        tmp = self.dir / (name + ".tmp")
        save_file(tensors, str(tmp), metadata={"settings": self._settings,
                                               "examples": json.dumps(rows)})
        honour_umask(tmp)   # safetensors writes 0600
        os.replace(tmp, self.dir / name)
        for ex_id, off, length in rows:
            self._examples[ex_id] = (name, off, length)
        self._buffer.clear()
        self._buffered_ids.clear()
        self._buffered_tokens = 0
        self._next_shard += 1

    def close(self) -> None:
        """Flush the last shard, then write index.json: from now on the cache counts as complete."""
        if self._closed:
            return
        self._flush()
        shards = sorted({shard for shard, _, _ in self._examples.values()})
        atomic_write_json(self.dir / INDEX_NAME, {
            "format": FORMAT, "version": VERSION, "k": self.k, "dtype": self.dtype,
            "meta": self.meta, "num_examples": len(self._examples),
            "num_tokens": sum(length for _, _, length in self._examples.values()),
            "shards": shards,
            "examples": {str(i): {"shard": s, "offset": o, "length": n}
                         for i, (s, o, n) in sorted(self._examples.items())},
        })
        self._closed = True

    def __enter__(self) -> "TopKCacheWriter":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:  # keep the finished examples for a resume, but do not claim completeness
            self._flush()


class TopKCacheReader:
    """Reads a complete cache. Shards are memory-mapped and only the rows of the requested example
    are read, so the cache may be far larger than RAM."""

    def __init__(self, cache_dir: str | os.PathLike) -> None:
        self.dir = Path(cache_dir)
        index_path = self.dir / INDEX_NAME
        if not index_path.is_file():
            raise UserError(
                f"no complete top-k teacher cache in {self.dir}: {INDEX_NAME} is missing, so the "
                "cache writer never finished (or this is not a cache directory). Rerun "
                "`kdtune run distill-cache` with the same output directory to resume it.")
        index = json.loads(index_path.read_text(encoding="utf-8"))
        if index.get("format") != FORMAT or index.get("version") != VERSION:
            raise UserError(f"{index_path} is not a {FORMAT} v{VERSION} index")
        self.k: int = index["k"]
        self.dtype: str = index["dtype"]
        self.meta: dict[str, Any] = index["meta"]
        self.num_tokens: int = index["num_tokens"]
        self._examples = {int(i): (e["shard"], e["offset"], e["length"])
                          for i, e in index["examples"].items()}
        self._handles: dict[str, Any] = {}

    @property
    def temperature(self) -> float:
        return float(self.meta["temperature"])

    @property
    def vocab_size(self) -> int:
        return int(self.meta["vocab_size"])

    def __len__(self) -> int:
        return len(self._examples)

    def __contains__(self, example_id: int) -> bool:
        return example_id in self._examples

    def ids(self) -> Iterator[int]:
        return iter(sorted(self._examples))

    def get(self, example_id: int) -> TopKTargets:
        """Targets of one example: int32 indices [T, k], fp32 logprobs [T, k] and tail [T]."""
        if example_id not in self._examples:
            raise KeyError(f"example {example_id} is not in the top-k cache {self.dir} "
                           f"({len(self)} examples); was it built from the same data split?")
        shard, offset, length = self._examples[example_id]
        if shard not in self._handles:
            self._handles[shard] = safe_open(self.dir / shard, framework="pt")
        f = self._handles[shard]
        rows = slice(offset, offset + length)
        return TopKTargets(f.get_slice("indices")[rows], f.get_slice("logprobs")[rows].float(),
                           f.get_slice("tail_logprob")[rows].float(), self.temperature)
