"""Scoring labels and pairs against a hidden truth, shared by bench/rank_quality.py and bench/labels.py.

Covers the variants compared (the paper's labels, every ranking method with and
without abstention, a threshold sweep of the default), the tally of one variant
over many records (top-1, precision of `correct` / `incorrect`, pair precision
of what `fdpo locate` builds, recall over the records that have both a truly
right and a truly wrong loaded candidate) and the markdown table. Does not
cover making the records (the two benchmarks).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from fdpo.locating.pairs import MIN_CONFIDENCE, locate_record
from fdpo.ranking.methods import DEFAULT_METHOD, METHODS
from fdpo.ranking.scoring import rank_record

PAIRS_PER_PROBLEM = 3


@dataclass(frozen=True)
class Variant:
    name: str
    method: str
    min_confidence: float
    examples: bool = True  # keep the prompt's examples among the tests


def variants() -> list[Variant]:
    out = [Variant("paper: codedpo, model tests only, no abstention", "codedpo", 0.0, examples=False)]
    out += [Variant(f"{m}, no abstention", m, 0.0) for m in METHODS]
    out += [Variant(f"{m}, --min-confidence {MIN_CONFIDENCE:g}", m, MIN_CONFIDENCE) for m in METHODS]
    out += [Variant(f"{DEFAULT_METHOD}, --min-confidence {t:g}", DEFAULT_METHOD, t) for t in (0.1, 0.2, 0.3)]
    return out


DEFAULT = f"{DEFAULT_METHOD}, --min-confidence {MIN_CONFIDENCE:g}"


def without_examples(record: dict) -> dict:
    """The record as `fdpo execute --no-examples` would have made it: the prompt's tests dropped."""
    keep = [j for j, t in enumerate(record["tests"]) if t.get("source") != "prompt"]
    execution = dict(record["execution"])
    for key in ("outcomes", "probes"):
        if key in execution:
            execution[key] = [[row[j] for j in keep] for row in execution[key]]
    return {**record, "tests": [record["tests"][j] for j in keep], "execution": execution}


class Tally:
    """Label and pair quality of one variant over many records."""

    def __init__(self) -> None:
        self.n = self.top1 = self.labelled = self.labelled_right = self.rejected = self.rejected_right = 0
        self.pairs = self.right_pairs = self.mixed = self.mixed_with_pair = 0

    def add(self, record: dict, truth: list[bool], min_confidence: float) -> None:
        ranking = record["ranking"]
        index = {c["id"]: i for i, c in enumerate(record["candidates"])}
        loaded = [truth[i] for i, status in enumerate(record["execution"]["load"]) if status == "ok"]
        mixed = any(loaded) and not all(loaded)
        self.n += 1
        self.mixed += mixed
        self.top1 += ranking["top"] is not None and truth[index[ranking["top"]]]
        pairs = locate_record(record, per_problem=PAIRS_PER_PROBLEM, snap=False, min_confidence=min_confidence)[0]
        if not pairs:
            return
        correct = [truth[index[c]] for c in ranking["correct"]]
        incorrect = [truth[index[c]] for c in ranking["incorrect"]]
        self.labelled += len(correct)
        self.labelled_right += sum(correct)
        self.rejected += len(incorrect)
        self.rejected_right += len(incorrect) - sum(incorrect)
        self.pairs += len(pairs)
        self.right_pairs += sum(truth[index[p["chosen_id"]]] and not truth[index[p["rejected_id"]]] for p in pairs)
        self.mixed_with_pair += mixed

    def row(self) -> dict[str, float]:
        share = lambda a, b: a / b if b else float("nan")
        return {"top1": share(self.top1, self.n), "precision": share(self.labelled_right, self.labelled),
                "rejected precision": share(self.rejected_right, self.rejected),
                "pair precision": share(self.right_pairs, self.pairs), "recall": share(self.mixed_with_pair, self.mixed),
                "pairs": self.pairs}


def evaluate(items: Iterable[tuple[dict, list[bool]]], chosen: list[Variant] | None = None) -> dict[str, dict]:
    """Each variant's row over (executed record, hidden truth per candidate) items."""
    chosen = chosen or variants()
    tallies = {v.name: Tally() for v in chosen}
    for record, truth in items:
        plain = None
        for v in chosen:
            if not v.examples:
                plain = plain or without_examples(record)
            tallies[v.name].add(rank_record(record if v.examples else plain, v.method), truth, v.min_confidence)
    return {name: t.row() for name, t in tallies.items()}


COLUMNS = ("top1", "precision", "rejected precision", "pair precision", "recall")


def table(rows: dict[str, dict]) -> str:
    """The markdown table, labels judged only where pairs were built; the default in bold."""
    lines = ["| labels | top-1 truly correct | `correct` truly correct | `incorrect` truly incorrect | "
             "pairs right (chosen right, rejected wrong) | recall (mixed problems with a pair) | pairs |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for name, row in rows.items():
        cells = [f"{row[k]:.1%}" if k in row and row[k] == row[k] else "" for k in COLUMNS] + [str(row.get("pairs", ""))]
        label = f"**{name} (default)**" if name == DEFAULT else name
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
