"""Train/eval contamination: does a train row contain (most of) an eval row's prompt?

The eval side is the prompt (user turns, or question + options; see schema.prompt_text). A
leaked eval question is usually pasted inside a longer training text, so overlap is measured
from the eval row's side: the share of an eval prompt's word n-grams that also occur in the
train row. A train row is contaminated when that share reaches `threshold` for some eval row. Word
n-grams (GPT-3 used 13-grams; Korean words carry particles, so 8 words is already a long,
specific span) match only verbatim copies, which is what a leak is. Eval rows shorter than n
words count as one n-gram made of all their words.

The eval side is indexed in memory (eval sets are small); train rows are streamed past it.
"""

from __future__ import annotations

from collections import Counter


def word_ngrams(text: str, n: int) -> set[tuple[str, ...]]:
    words = text.split()
    if len(words) < n:
        return {tuple(words)} if words else set()
    return {tuple(words[i:i + n]) for i in range(len(words) - n + 1)}


class EvalIndex:
    def __init__(self, n: int, threshold: float):
        self.n = n
        self.threshold = threshold
        self._owners: dict[tuple[str, ...], list[int]] = {}  # n-gram -> eval rows holding it
        self._sizes: list[int] = []
        self._names: list[str] = []
        self._gram_lengths: set[int] = set()  # n, plus the word counts of shorter eval rows

    def add(self, text: str, name: str) -> None:
        grams = word_ngrams(text, self.n)
        if not grams:
            return
        row = len(self._sizes)
        self._sizes.append(len(grams))
        self._names.append(name)
        self._gram_lengths.add(len(next(iter(grams))))
        for gram in grams:
            self._owners.setdefault(gram, []).append(row)

    def __len__(self) -> int:
        return len(self._sizes)

    def match(self, text: str) -> tuple[str, float] | None:
        """(eval row name, overlap share) of the most-overlapped eval row at or above threshold."""
        if not self._sizes:
            return None
        words = text.split()
        # Distinct spans of every length an eval gram has (short eval rows are one shorter gram).
        spans = {tuple(words[i:i + size]) for size in self._gram_lengths for i in range(len(words) - size + 1)}
        hits: Counter = Counter()
        for span in spans:
            hits.update(self._owners.get(span, ()))
        best = None
        for row, count in hits.items():
            share = min(count / self._sizes[row], 1.0)
            if share >= self.threshold and (best is None or share > best[1]):
                best = (self._names[row], share)
        return best
