"""Self-verified labels: score candidates and tests from the pass matrix, then split.

Covers reading an executed record into a candidate × test pass matrix and the
candidates' behaviour (their output probes), the scoring methods (``codedpo``,
``pagerank``, ``count``, ``codet``, and the behaviour-cluster methods
``consensus`` and ``dual``; see docs/rank.md for their exact definitions), the
split into ``correct`` / ``incorrect`` candidates, and the record's
``confidence`` with the evidence behind it. Does not cover running code
(``fdpo execute``) or building pairs (``fdpo.locating.pairs``).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from fdpo.ranking.methods import CLUSTER_METHODS, DEFAULT_METHOD, METHODS
from fdpo.sandbox.limits import LOAD_STATUSES, STATUSES

Record = dict[str, Any]

PROMPT_SOURCE = "prompt"  # fdpo.execution.examples.SOURCE, not imported so that ranking stays light
DAMPING = 0.85
MAX_ITER = 100
TOL = 1e-6  # L1 change per round below which the ranking no longer moves
# Scores are rounded before ranking and output, so candidates that are equal up
# to float noise tie, and ties then break by input order.
DIGITS = 12


@dataclass
class PassMatrix:
    """``passes[i, j]``: candidate i passes test j; rows of unloaded candidates are all False.

    ``behaviour[i]`` is what candidate i did on all the tests' inputs: its output
    probes where the record has them, else its row of the pass matrix.
    """

    passes: np.ndarray
    loaded: list[bool]
    candidate_ids: list[Any]
    test_ids: list[Any]
    behaviour: list[tuple] = field(default_factory=list)
    probed: bool = False
    trusted: np.ndarray | None = None  # tests from the prompt's own examples (``source: "prompt"``)

    def passes_trusted(self, i: int) -> bool:
        return self.loaded[i] and bool(self.passes[i][self.trusted].all())

    def clusters(self) -> dict[tuple, list[int]]:
        """Loaded candidates grouped by behaviour, in order of first appearance."""
        groups: dict[tuple, list[int]] = {}
        for i, ok in enumerate(self.loaded):
            if ok:
                groups.setdefault(self.behaviour[i], []).append(i)
        return groups


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
    unknown = [s for row in outcomes for s in row if s not in STATUSES] + [s for s in load if s not in LOAD_STATUSES]
    if unknown:
        raise ValueError(f"unknown outcome {unknown[0]!r} in execution "
                         f"(outcomes are {', '.join(STATUSES)}; load is {', '.join(LOAD_STATUSES)})")
    loaded = [status == "ok" for status in load]
    passes = np.zeros((n, m), dtype=bool)
    for i, row in enumerate(outcomes):
        if loaded[i]:
            passes[i] = [status == "pass" for status in row]
    pm = PassMatrix(passes, loaded, [c.get("id", i) for i, c in enumerate(candidates)], [t.get("id", j) for j, t in enumerate(tests)])
    probes = execution.get("probes")
    if probes is not None and (len(probes) != n or any(len(row) != m for row in probes)):
        raise ValueError(f"execution.probes is not {n} candidates × {m} tests")
    pm.trusted = np.array([isinstance(t, dict) and t.get("source") == PROMPT_SOURCE for t in tests], dtype=bool)
    pm.probed = bool(probes) and any(v is not None for row in probes for v in row)
    pm.behaviour = [tuple(row) for row in probes] if pm.probed else [tuple(row) for row in passes.tolist()]
    return pm


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


def cluster_scores(pm: PassMatrix, dual: bool) -> tuple[np.ndarray, np.ndarray, int]:
    """Behaviour clusters: a cluster of k candidates passing t tests scores k (``consensus``) or √k·(t + 1) (``dual``).

    ``consensus`` breaks ties between equal-sized clusters by tests passed. A
    candidate gets its cluster's score, a test the best score of the clusters that pass it.
    """
    n, m = pm.passes.shape
    codes, tests = np.zeros(n), np.zeros(m)
    for members in pm.clusters().values():
        row = pm.passes[members[0]]
        passed = int(row.sum())
        score = math.sqrt(len(members)) * (passed + 1) if dual else len(members) + passed / (m + 1)
        codes[members] = score
        tests[row] = np.maximum(tests[row], score)
    return codes, tests, 0


# Each returns (code scores, test scores, rounds run or 0).
SCORERS: dict[str, Callable[[PassMatrix], tuple[np.ndarray, np.ndarray, int]]] = {
    "codedpo": lambda pm: codedpo_scores(pm.passes),
    "pagerank": lambda pm: pagerank_scores(pm.passes),
    "count": lambda pm: count_scores(pm.passes),
    "codet": lambda pm: codet_scores(pm.passes, pm.loaded),
    "consensus": lambda pm: cluster_scores(pm, dual=False),
    "dual": lambda pm: cluster_scores(pm, dual=True),
}
assert tuple(SCORERS) == METHODS, "fdpo.ranking.methods names every scorer"


def order(scores: list[float], eligible: list[bool]) -> list[int]:
    """Eligible indices, best first; equal scores keep input order."""
    return sorted((i for i, ok in enumerate(eligible) if ok), key=lambda i: -scores[i])


def split(pm: PassMatrix, code_scores: list[float], by_cluster: bool = False) -> dict[str, Any]:
    """Truth tests from the top candidate, the correct / incorrect split, and why it is unusable if so.

    Correct: the candidates that pass every truth test or, ``by_cluster``, that
    behave as the top candidate does; then the top candidate is the best one that
    passes all the prompt's examples.
    """
    n, m = pm.passes.shape
    ranked = order(code_scores, pm.loaded)
    out: dict[str, Any] = {"top": None, "truth_tests": [], "correct": [], "incorrect": [], "reason": None}
    if n == 0 or m == 0 or not ranked:
        out["reason"] = "no candidates" if n == 0 else "no tests" if m == 0 else "no candidate loaded"
        return out
    eligible = [i for i in ranked if pm.passes_trusted(i)] if by_cluster else ranked
    if not eligible:
        out["reason"] = "no candidate passes the prompt's examples"
        return out
    top = eligible[0]
    truth = pm.passes[top]
    out["top"] = pm.candidate_ids[top]
    out["truth_tests"] = [pm.test_ids[j] for j in np.flatnonzero(truth)]
    if not truth.any():
        out["reason"] = "nothing passes" if not pm.passes.any() else "top candidate passes no test"
        return out
    if by_cluster:
        is_correct = {i: pm.behaviour[i] == pm.behaviour[top] for i in ranked}
    else:
        is_correct = {i: bool(pm.passes[i][truth].all()) for i in ranked}
    out["correct"] = [pm.candidate_ids[i] for i in ranked if is_correct[i]]
    out["incorrect"] = [pm.candidate_ids[i] for i in ranked if not is_correct[i]]
    if not out["incorrect"]:
        rows = {pm.passes[i].tobytes() for i in ranked}
        out["reason"] = "all equal" if len(rows) == 1 else "all correct"
    return out


def evidence(pm: PassMatrix, split_: dict[str, Any]) -> dict[str, Any]:
    """What the split rests on: how many loaded candidates back it, against how many, with which tests."""
    index = {cid: i for i, cid in enumerate(pm.candidate_ids)}
    correct = [index[c] for c in split_["correct"]]
    incorrect = [index[c] for c in split_["incorrect"]]
    truth = np.isin(pm.test_ids, split_["truth_tests"]) if split_["truth_tests"] else np.zeros(len(pm.test_ids), bool)
    others: dict[tuple, int] = {}
    for i in incorrect:
        others[pm.behaviour[i]] = others.get(pm.behaviour[i], 0) + 1
    failed_by_incorrect = ~pm.passes[incorrect][:, truth].all(axis=0) if incorrect else np.zeros(int(truth.sum()), bool)
    return {
        "loaded": sum(pm.loaded),
        "correct": len(correct),
        "runner_up": max(others.values(), default=0),
        "behaviours": len(pm.clusters()),
        "truth_tests": int(truth.sum()),
        "discriminating_tests": int(failed_by_incorrect.sum()),
        "examples": int(pm.trusted.sum()),
        "probed": pm.probed,
    }


def confidence(ev: dict[str, Any]) -> float:
    """How far the split can be trusted, in [0, 1]: docs/rank.md ("Confidence")."""
    if not ev["loaded"]:
        return 0.0
    return round(max(ev["correct"] - ev["runner_up"], 0) / (ev["loaded"] + 1), 6)


def rank_record(record: Record, method: str = DEFAULT_METHOD) -> Record:
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
        **split(pm, code_scores, by_cluster=method in CLUSTER_METHODS),
        "unloaded": [pm.candidate_ids[i] for i in range(n) if not pm.loaded[i]],
    }
    ranking["evidence"] = evidence(pm, ranking)
    # "all equal" / "all correct" still trust their correct side (`fdpo locate --reject-unloaded` uses it).
    trusted = ranking["reason"] in (None, "all equal", "all correct")
    ranking["confidence"] = confidence(ranking["evidence"]) if trusted else 0.0
    if method == "codedpo":
        ranking["rounds"] = rounds
    return {**record, "ranking": ranking}
