"""Exact and near-duplicate detection for short texts: word n-grams, MinHash and LSH.

Covers normalising a text into lower-case word tokens, hashing its n-grams
(stable across processes, unlike ``hash()``), the overlap measures between two
n-gram sets, and an index that answers "is this a duplicate of something kept
before?" in near-constant time: MinHash signatures bucketed by LSH bands find
candidates, and the exact n-gram Jaccard of each candidate decides. Does not
cover what is compared (see ``fdpo.synth.pipeline``) nor benchmarks (see
``fdpo.synth.decontam``).
"""

from __future__ import annotations

import hashlib
import re
from collections import defaultdict
from dataclasses import dataclass, field

_WORD = re.compile(r"\w+")
NUM_PERM = 128


def masked(text: str, name: str | None) -> str:
    """``text`` with the word ``name`` (a function's name) replaced by a placeholder, so renaming hides nothing."""
    return re.sub(rf"\b{re.escape(name)}\b", "entrypoint", text) if name else text


def tokens(text: str) -> list[str]:
    """Lower-case word tokens: punctuation, spacing and case do not make texts different."""
    return _WORD.findall(text.lower())


def ngrams(text: str, n: int) -> set[int]:
    """Hashes of the word n-grams of ``text`` (one gram of all its words when it has fewer than n)."""
    return shingles(tokens(text), n)


def shingles(words: list[str], n: int) -> set[int]:
    grams = [words[i : i + n] for i in range(max(1, len(words) - n + 1))] if words else []
    return {int.from_bytes(hashlib.blake2b(" ".join(g).encode(), digest_size=8).digest(), "little") for g in grams}


def jaccard(a: set[int], b: set[int]) -> float:
    return len(a & b) / len(a | b) if a or b else 1.0


def overlap(a: set[int], b: set[int]) -> float:
    """Share of the smaller set found in the other: 1.0 when one text contains the other."""
    return len(a & b) / min(len(a), len(b)) if a and b else 0.0


def exact_key(text: str) -> str:
    return hashlib.sha256(" ".join(tokens(text)).encode()).hexdigest()


def lsh_shape(threshold: float, num_perm: int = NUM_PERM) -> tuple[int, int]:
    """(bands, rows): the most rows per band that still finds a pair at ``threshold`` with p ≥ 0.99."""
    best = (num_perm, 1)
    for rows in (1, 2, 4, 8, 16, 32):
        bands = num_perm // rows
        if 1 - (1 - threshold**rows) ** bands >= 0.99:
            best = (bands, rows)
    return best


@dataclass
class NearDuplicateIndex:
    """Texts kept so far; ``find`` names the one a new text duplicates, if any.

    A duplicate is an exact match after normalisation, or an n-gram Jaccard
    similarity of at least ``threshold`` (a threshold above 1 checks exact
    matches only).
    """

    threshold: float = 0.7
    n: int = 3
    _exact: dict[str, str] = field(default_factory=dict)
    _grams: dict[str, set[int]] = field(default_factory=dict)
    _buckets: dict[tuple[int, bytes], list[str]] = field(default_factory=lambda: defaultdict(list))

    def __post_init__(self) -> None:
        import numpy as np

        rng = np.random.default_rng(0x5EED)
        # Multiply-shift hashing: odd multipliers, wrapping uint64 arithmetic, keep the high bits.
        self._mul = rng.integers(0, 2**64, NUM_PERM, dtype=np.uint64, endpoint=False) | np.uint64(1)
        self._add = rng.integers(0, 2**64, NUM_PERM, dtype=np.uint64, endpoint=False)
        self._bands, self._rows = lsh_shape(min(self.threshold, 1.0))

    def find(self, text: str) -> tuple[str, float] | None:
        """(key of the kept text it duplicates, similarity), or None."""
        if (key := self._exact.get(exact_key(text))) is not None:
            return key, 1.0
        if self.threshold > 1:
            return None
        grams = ngrams(text, self.n)
        best = None
        for other in self._candidates(self._signature(grams)):
            sim = jaccard(grams, self._grams[other])
            if sim >= self.threshold and (best is None or sim > best[1]):
                best = (other, sim)
        return best

    def add(self, key: str, text: str) -> None:
        self._exact[exact_key(text)] = key
        if self.threshold > 1:
            return
        grams = ngrams(text, self.n)
        self._grams[key] = grams
        for bucket in self._bucket_keys(self._signature(grams)):
            self._buckets[bucket].append(key)

    def _signature(self, grams: set[int]):
        import numpy as np

        values = np.fromiter(grams, dtype=np.uint64, count=len(grams)) if grams else np.zeros(1, np.uint64)
        with np.errstate(over="ignore"):
            hashed = (self._mul[:, None] * values[None, :] + self._add[:, None]) >> np.uint64(32)
        return hashed.min(axis=1)

    def _bucket_keys(self, signature) -> list[tuple[int, bytes]]:
        r = self._rows
        return [(b, signature[b * r : (b + 1) * r].tobytes()) for b in range(self._bands)]

    def _candidates(self, signature) -> list[str]:
        seen: dict[str, None] = {}
        for bucket in self._bucket_keys(signature):
            for key in self._buckets.get(bucket, ()):
                seen[key] = None
        return list(seen)
