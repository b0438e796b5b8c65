"""Exact and near-duplicate detection.

Exact: a 16-byte BLAKE2b of the record's content (meta excluded; a cls record's text only), computed on normalised,
redacted text, so an NFD copy or a full-width-digit copy of a row is the same key. Keys are
computed in worker processes; the parent keeps only the set of keys (~80 bytes a row).

Near: MinHash over character shingles (Korean has no reliable word boundaries: particles glue
onto words, so "서울에서" and "서울에" share no word but most characters). Signatures are
computed in workers (the expensive part); the parent queries and inserts into one MinHashLSH,
then confirms each LSH candidate by its estimated Jaccard, since LSH banding also returns some
pairs below the threshold. Memory in the parent: about 3.5 KB per kept row at num_perm 128
(MinHashLSH's band tables ~2.9 KB, the stored signature 0.5 KB), so ~1M rows per 4 GB; for
larger sets turn near-dedup off (dedup.near: false) or run it per shard.
"""

from __future__ import annotations

import hashlib
import json

import numpy as np
from datasketch import LeanMinHash, MinHash, MinHashLSH

# datasketch >= 2.0 default permutation scheme; signatures rebuilt from hash values must name it.
SCHEME = "affine32"
MINHASH_SEED = 1


def exact_key(record: dict) -> bytes:
    # A cls row is keyed by its text alone: the same text under two labels is one example (the
    # first kept), not two contradicting ones.
    content = {"text": record["text"]} if "label" in record else {k: v for k, v in record.items() if k != "meta"}
    canonical = json.dumps(content, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.blake2b(canonical.encode("utf-8"), digest_size=16).digest()


def shingles(text: str, n: int) -> list[bytes]:
    """Distinct character n-grams of `text` with whitespace removed (spacing varies in Korean)."""
    chars = "".join(text.split())
    if len(chars) <= n:
        return [chars.encode("utf-8")]
    return [s.encode("utf-8") for s in {chars[i:i + n] for i in range(len(chars) - n + 1)}]


def signatures(texts: list[str], num_perm: int, shingle: int) -> list[np.ndarray]:
    """MinHash hash values per text; `MinHash.bulk` reuses one set of permutations for all."""
    sets = [shingles(t, shingle) for t in texts]
    return [m.hashvalues for m in MinHash.bulk(sets, num_perm=num_perm, seed=MINHASH_SEED, scheme=SCHEME)]


class ExactDeduper:
    def __init__(self):
        self._seen: set[bytes] = set()
        self.duplicates = 0

    def is_duplicate(self, key: bytes) -> bool:
        """True for a key seen before; the first occurrence is kept."""
        if key in self._seen:
            self.duplicates += 1
            return True
        self._seen.add(key)
        return False


class NearDeduper:
    def __init__(self, threshold: float, num_perm: int):
        self.threshold = threshold
        self._lsh = MinHashLSH(threshold=threshold, num_perm=num_perm)
        # Signatures as raw bytes (not LeanMinHash objects): half the memory per row.
        self._kept: dict[int, tuple[bytes, str]] = {}
        self.duplicates = 0
        self.examples: list[dict] = []  # a few (row, matched row) pairs for the datacard

    def is_duplicate(self, row_id: int, hashvalues: np.ndarray, where: str = "") -> bool:
        """True if a kept row is at least `threshold` similar; otherwise remember this row."""
        sig = LeanMinHash(seed=MINHASH_SEED, hashvalues=hashvalues, scheme=SCHEME)
        for other in self._lsh.query(sig):
            other_values, other_where = self._kept[other]
            # Estimated Jaccard: the share of permutations whose minimum agrees.
            similarity = float(np.mean(np.frombuffer(other_values, dtype=hashvalues.dtype) == hashvalues))
            if similarity >= self.threshold:
                self.duplicates += 1
                if len(self.examples) < 10:
                    self.examples.append({"row": where, "duplicate_of": other_where,
                                          "jaccard": round(similarity, 3)})
                return True
        self._lsh.insert(row_id, sig)
        self._kept[row_id] = (hashvalues.tobytes(), where)
        return False
