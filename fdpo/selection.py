"""Global data selection: the best pairs by Diff, split into train / validation by problem.

Covers what ``fdpo select`` decides: which pairs are selectable (no ``error``, a
numeric ``diff.value``), the global ranking (highest Diff first, ties in input
order), the per-problem cap, the cut at train + val pairs and the split, which
keeps every problem whole on one side and picks the validation problems by a
seeded hash of their key so that the choice is deterministic and unbiased by
Diff. Does not cover reading or writing files (``fdpo.commands.select``) or
scoring pairs (``fdpo.locating.pairs``).
"""

from __future__ import annotations

import hashlib
import math
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
import orjson

from fdpo.jsonl import Record

#: Summary keys for pairs that are read but not written, in the order they are counted.
ERROR = "not selectable (error)"
NO_DIFF = "not selectable (no numeric diff.value)"
OVER_CAP = "over --max-per-problem"
BELOW_CUT = "below the cut"
NOT_WHOLE = "left out to keep problems whole"


@dataclass
class Selection:
    """The outcome: the pairs of each side in Diff order, and why the others were not written."""

    train: list[Record] = field(default_factory=list)
    val: list[Record] = field(default_factory=list)
    #: How many pairs were set aside for each reason (the keys above).
    left_out: Counter = field(default_factory=Counter)
    selectable: int = 0
    #: Pairs within the cut (after the cap), before the split.
    pool: int = 0
    #: Pairs each side aims at: the request, or the request scaled down when pairs are short.
    train_target: int = 0
    val_target: int = 0
    train_problems: int = 0
    val_problems: int = 0


def diff_value(record: Record) -> float | None:
    """``diff.value`` when it is a finite number (not a bool), else None."""
    diff = record.get("diff")
    value = diff.get("value") if isinstance(diff, dict) else None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return float(value)


def problem_key(record: Record, position: int) -> str:
    """What keeps pairs together on one side: ``problem_id``, else the prompt, else the pair alone."""
    for name in ("problem_id", "prompt"):
        value = record.get(name)
        if value is not None:
            return f"{name}={orjson.dumps(value).decode()}"
    return f"pair={position}"


def problem_order(key: str, seed: int) -> str:
    """A problem's place in the validation draw: a hash of (seed, key).

    It depends on nothing else, so a problem lands on the same side whatever the
    input order or the other problems, and a new seed gives a new draw.
    """
    return hashlib.sha256(f"{seed}\0{key}".encode()).hexdigest()


def split_targets(available: int, train: int, val: int) -> tuple[int, int]:
    """(train, val) pair counts to aim at: as asked, or scaled to ``available`` keeping the ratio."""
    if available >= train + val:
        return train, val
    val_target = round(available * val / (train + val)) if train + val else 0
    return available - val_target, val_target


def select(
    records: Iterable[Record],
    train: int,
    val: int,
    *,
    max_per_problem: int | None = None,
    seed: int = 0,
) -> Selection:
    """Rank every selectable pair by Diff, keep the best ``train + val`` and split them by problem."""
    out = Selection()
    ranked: list[tuple[float, int, Record]] = []
    for position, record in enumerate(records):
        if record.get("error"):
            out.left_out[ERROR] += 1
            continue
        value = diff_value(record)
        if value is None:
            out.left_out[NO_DIFF] += 1
            continue
        ranked.append((value, position, record))
    out.selectable = len(ranked)
    ranked.sort(key=lambda t: -t[0])  # stable: equal Diff keeps input order

    # The cap applies in rank order, so each problem keeps its best pairs.
    per_problem: Counter = Counter()
    pool: list[tuple[int, str, Record]] = []  # (global rank from 1, problem key, record)
    for rank, (_, position, record) in enumerate(ranked, start=1):
        key = problem_key(record, position)
        if max_per_problem is not None and per_problem[key] >= max_per_problem:
            out.left_out[OVER_CAP] += 1
            continue
        per_problem[key] += 1
        pool.append((rank, key, record))
    if len(pool) > train + val:
        out.left_out[BELOW_CUT] += len(pool) - (train + val)
        pool = pool[: train + val]

    out.pool = len(pool)
    out.train_target, out.val_target = split_targets(len(pool), train, val)
    groups: dict[str, int] = Counter(key for _, key, _ in pool)
    val_keys: set[str] = set()
    taken = 0
    for key in sorted(groups, key=lambda k: problem_order(k, seed)):
        if taken == out.val_target:
            break
        if taken + groups[key] <= out.val_target:  # a problem that does not fit whole is passed over
            val_keys.add(key)
            taken += groups[key]

    train_keys: set[str] = set()
    for rank, key, record in pool:
        side = "val" if key in val_keys else "train"
        if side == "train" and len(out.train) == out.train_target:
            out.left_out[NOT_WHOLE] += 1  # the validation side came out short of whole problems
            continue
        if side == "train":
            train_keys.add(key)
        getattr(out, side).append({**record, "select": {"rank": rank, "split": side}})
    out.train_problems, out.val_problems = len(train_keys), len(val_keys)
    return out


def describe(values: list[float]) -> str:
    """``min–max (mean)`` of Diff values, for the closing lines."""
    if not values:
        return "none"
    return f"{min(values):.4g}–{max(values):.4g} (mean {sum(values) / len(values):.4g})"
