"""Self-verified labels: score candidates and tests from the pass matrix, then split.

Covers reading an executed record into a candidate × test pass matrix, the four
scoring methods (``codedpo``, ``pagerank``, ``count``, ``codet``; see
docs/rank.md for their exact definitions) and the split into ``correct`` /
``incorrect`` candidates by the tests the top-scored candidate passes. Does not
cover running code (``fdpo execute``) or building pairs (``fdpo.pairs``).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

Record = dict[str, Any]

DAMPING = 0.85
MAX_ITER = 100
TOL = 1e-6  # L1 change per round below which the ranking no longer moves
# Scores are rounded before ranking and output, so candidates that are equal up
# to float noise tie, and ties then break by input order.
DIGITS = 12


@dataclass
class PassMatrix:
    """``passes[i, j]``: candidate i passes test j; rows of unloaded candidates are all False."""

    passes: np.ndarray
    loaded: list[bool]
    candidate_ids: list[Any]
    test_ids: list[Any]


def pass_matrix(record: Record) -> PassMatrix:
    """The pass matrix of an executed record; ValueError if ``execution`` does not fit."""
    candidates = record.get("candidates") or []
    tests = record.get("tests") or []
    execution = record.get("execution")
    if not isinstance(execution, dict) or "outcomes" not in execution:
        raise ValueError("record has no execution.outcomes: run `fdpo execute` first")
    outcomes = execution["outcomes"]
    n, m = len(candidates), len(tests)
    if len(outcomes) != n or any(len(row) != m for row in outcomes):
        raise ValueError(f"execution.outcomes is not {n} candidates × {m} tests")
    load = execution.get("load") or ["ok"] * n
    if len(load) != n:
        raise ValueError(f"execution.load has {len(load)} entries for {n} candidates")
    loaded = [status == "ok" for status in load]
    passes = np.zeros((n, m), dtype=bool)
    for i, row in enumerate(outcomes):
        if loaded[i]:
            passes[i] = [status == "pass" for status in row]
    return PassMatrix(passes, loaded, [c.get("id", i) for i, c in enumerate(candidates)], [t.get("id", j) for j, t in enumerate(tests)])


def codedpo_scores(passes: np.ndarray, damping: float = DAMPING) -> tuple[np.ndarray, np.ndarray, int]:
    """CodeDPO's mutual reinforcement; returns code scores, test scores, rounds run.

    Each round: code ← (1−d)·code + d·Σ scores of the tests it passes, then
    test ← (1−d)·test + d·Σ scores of the codes that pass it, each side
    normalised to sum 1; until the scores move by less than TOL (L1) in a round.
    """
    n, m = passes.shape
    a = passes.astype(float)
    at = np.ascontiguousarray(a.T)
    keep = 1.0 - damping
    codes, tests = np.full(n, 1.0 / n), np.full(m, 1.0 / m)
    for rounds in range(1, MAX_ITER + 1):
        new_codes = keep * codes + damping * a.dot(tests)
        if (total := new_codes.sum()) > 0:
            new_codes /= total
        new_tests = keep * tests + damping * at.dot(new_codes)
        if (total := new_tests.sum()) > 0:
            new_tests /= total
        change = np.abs(new_codes - codes).sum() + np.abs(new_tests - tests).sum()
        codes, tests = new_codes, new_tests
        if change < TOL:
            break
    return codes, tests, rounds


def pagerank_scores(passes: np.ndarray, damping: float = DAMPING) -> tuple[np.ndarray, np.ndarray, int]:
    """networkx PageRank on the undirected candidate–test graph."""
    import networkx as nx

    n, m = passes.shape
    graph = nx.Graph()
    graph.add_nodes_from(("c", i) for i in range(n))
    graph.add_nodes_from(("t", j) for j in range(m))
    graph.add_edges_from((("c", int(i)), ("t", int(j))) for i, j in zip(*np.nonzero(passes)))
    rank = nx.pagerank(graph, alpha=damping, tol=1e-10, max_iter=1000)
    return np.array([rank["c", i] for i in range(n)]), np.array([rank["t", j] for j in range(m)]), 0


def count_scores(passes: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    """Tests passed per candidate; candidates passing per test."""
    return passes.sum(axis=1).astype(float), passes.sum(axis=0).astype(float), 0


def codet_scores(passes: np.ndarray, loaded: list[bool]) -> tuple[np.ndarray, np.ndarray, int]:
    """CodeT dual agreement: a group of candidates passing exactly the same tests scores #tests × √#candidates."""
    n, m = passes.shape
    groups: dict[bytes, list[int]] = {}
    for i in range(n):
        if loaded[i]:
            groups.setdefault(passes[i].tobytes(), []).append(i)
    codes, tests = np.zeros(n), np.zeros(m)
    for members in groups.values():
        row = passes[members[0]]
        score = row.sum() * math.sqrt(len(members))
        codes[members] = score
        tests[row] = np.maximum(tests[row], score)
    return codes, tests, 0


# Each returns (code scores, test scores, rounds run or 0).
SCORERS: dict[str, Callable[[PassMatrix], tuple[np.ndarray, np.ndarray, int]]] = {
    "codedpo": lambda pm: codedpo_scores(pm.passes),
    "pagerank": lambda pm: pagerank_scores(pm.passes),
    "count": lambda pm: count_scores(pm.passes),
    "codet": lambda pm: codet_scores(pm.passes, pm.loaded),
}
METHODS = tuple(SCORERS)


def order(scores: list[float], eligible: list[bool]) -> list[int]:
    """Eligible indices, best first; equal scores keep input order."""
    return sorted((i for i, ok in enumerate(eligible) if ok), key=lambda i: -scores[i])


def split(pm: PassMatrix, code_scores: list[float]) -> dict[str, Any]:
    """Truth tests from the top candidate, the correct / incorrect split, and why it is unusable if so."""
    n, m = pm.passes.shape
    ranked = order(code_scores, pm.loaded)
    out: dict[str, Any] = {"top": None, "truth_tests": [], "correct": [], "incorrect": [], "reason": None}
    if n == 0 or m == 0 or not ranked:
        out["reason"] = "no candidates" if n == 0 else "no tests" if m == 0 else "no candidate loaded"
        return out
    top = ranked[0]
    truth = pm.passes[top]
    out["top"] = pm.candidate_ids[top]
    out["truth_tests"] = [pm.test_ids[j] for j in np.flatnonzero(truth)]
    if not truth.any():
        out["reason"] = "nothing passes" if not pm.passes.any() else "top candidate passes no test"
        return out
    is_correct = {i: bool(pm.passes[i][truth].all()) for i in ranked}
    out["correct"] = [pm.candidate_ids[i] for i in ranked if is_correct[i]]
    out["incorrect"] = [pm.candidate_ids[i] for i in ranked if not is_correct[i]]
    if not out["incorrect"]:
        rows = {pm.passes[i].tobytes() for i in ranked}
        out["reason"] = "all equal" if len(rows) == 1 else "all correct"
    return out


def rank_record(record: Record, method: str = "codedpo") -> Record:
    """The record with its ``ranking`` field added."""
    if method not in METHODS:
        raise ValueError(f"unknown ranking method {method!r} (choose from {', '.join(METHODS)})")
    pm = pass_matrix(record)
    n, m = pm.passes.shape
    if n and m:
        codes, tests, rounds = SCORERS[method](pm)
    else:
        codes, tests, rounds = np.zeros(n), np.zeros(m), 0
    code_scores = [round(float(x), DIGITS) for x in codes]
    ranking = {
        "method": method,
        "code_scores": code_scores,
        "test_scores": [round(float(x), DIGITS) for x in tests],
        **split(pm, code_scores),
        "unloaded": [pm.candidate_ids[i] for i in range(n) if not pm.loaded[i]],
    }
    if method == "codedpo":
        ranking["rounds"] = rounds
    return {**record, "ranking": ranking}
