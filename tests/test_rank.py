"""fdpo rank: the scoring methods, the correct / incorrect split, and the command as users run it."""

from __future__ import annotations

import itertools
import math
import os
import subprocess

import numpy as np
import orjson
import pytest

from fdpo.ranking.methods import CLUSTER_METHODS, METHODS
from fdpo.ranking.scoring import codedpo_scores, pass_matrix, rank_record

TEST_METHODS = [m for m in METHODS if m not in CLUSTER_METHODS]


def executed(rows: list[str], load: list[str] | None = None, pid: str = "p", probes: list[str] | None = None) -> dict:
    """An executed record from rows such as "PPF" (P pass, F fail, E error, T timeout).

    ``probes``: one string per candidate, a character per test standing for what it returned there.
    """
    status = {"P": "pass", "F": "fail", "E": "error", "T": "timeout"}
    outcomes = [[status[ch] for ch in row] for row in rows]
    m = len(rows[0]) if rows else 0
    return {
        "id": pid,
        "prompt": "def f(x):\n",
        "candidates": [{"id": f"c{i}", "response": f"    return {i}\n", "code": f"return {i}"} for i in range(len(rows))],
        "tests": [{"id": f"t{j}", "response": f"assert f({j})", "code": f"assert f({j})"} for j in range(m)],
        "execution": {"outcomes": outcomes, "load": load or ["ok"] * len(rows)},
        **({"execution": {"outcomes": outcomes, "load": load or ["ok"] * len(rows), "probes": [list(p) for p in probes]}}
           if probes else {}),
    }


def passes_of(rows):
    return np.array([[ch == "P" for ch in row] for row in rows])


# --- scoring methods ---------------------------------------------------------


def test_codedpo_reaches_its_fixed_point():
    rows = ["PPPF", "PPPF", "PFFP", "FFFF", "FPPP"]
    a = passes_of(rows).astype(float)
    codes, tests, rounds = codedpo_scores(passes_of(rows))
    assert rounds < 100
    # The update applied once more leaves the scores where they are (up to normalisation).
    again_codes = 0.15 * codes + 0.85 * (a @ tests)
    again_codes /= again_codes.sum()
    again_tests = 0.15 * tests + 0.85 * (a.T @ again_codes)
    again_tests /= again_tests.sum()
    assert np.allclose(again_codes, codes, atol=1e-8) and np.allclose(again_tests, tests, atol=1e-8)
    assert math.isclose(codes.sum(), 1.0) and math.isclose(tests.sum(), 1.0)


def test_codedpo_trusts_tests_that_agree_with_many_candidates():
    # c0..c2 agree on t0..t2; c3 alone passes t3 and t4 (two tests, but nobody backs them).
    rows = ["PPPFF", "PPPFF", "PPPFF", "FFFPP"]
    ranking = rank_record(executed(rows), "codedpo")["ranking"]
    s = ranking["code_scores"]
    assert s[0] == s[1] == s[2] > s[3]
    assert min(ranking["test_scores"][:3]) > max(ranking["test_scores"][3:])
    assert ranking["correct"] == ["c0", "c1", "c2"] and ranking["incorrect"] == ["c3"]
    # Counting tests alone cannot tell them apart from c3's pair of tests: c3 passes fewer.
    assert rank_record(executed(rows), "count")["ranking"]["top"] == "c0"


def _pagerank_by_hand(passes: np.ndarray, d: float = 0.85) -> np.ndarray:
    n, m = passes.shape
    adj = np.zeros((n + m, n + m))
    adj[:n, n:] = passes
    adj[n:, :n] = passes.T
    size = n + m
    deg = adj.sum(axis=1)
    x = np.full(size, 1 / size)
    for _ in range(2000):
        spread = np.where(deg > 0, x / np.where(deg > 0, deg, 1), 0) @ adj
        dangling = x[deg == 0].sum()
        x = (1 - d) / size + d * (spread + dangling / size)
    return x


def test_pagerank_matches_a_power_iteration_by_hand():
    rows = ["PPPF", "PPFF", "FFFP", "FFFF"]
    ranking = rank_record(executed(rows), "pagerank")["ranking"]
    expect = _pagerank_by_hand(passes_of(rows))
    assert np.allclose(ranking["code_scores"], expect[:4], atol=1e-8)
    assert np.allclose(ranking["test_scores"], expect[4:], atol=1e-8)


def test_codet_scores_groups_by_tests_times_root_of_size():
    rows = ["PPFF", "PPFF", "PPFF", "PPPF", "FFFP", "FFFP"]
    ranking = rank_record(executed(rows), "codet")["ranking"]
    passes = passes_of(rows)
    for i, row in enumerate(passes):
        same = sum((other == row).all() for other in passes)
        assert math.isclose(ranking["code_scores"][i], row.sum() * math.sqrt(same))
    # 2 tests × √3 beats 3 tests × √1: agreement outweighs passing more.
    assert ranking["top"] == "c0" and ranking["correct"] == ["c0", "c1", "c2", "c3"]


def test_count_counts_passed_tests():
    rows = ["PFPF", "PPPP", "FFFF"]
    ranking = rank_record(executed(rows), "count")["ranking"]
    assert ranking["code_scores"] == [2.0, 4.0, 0.0]
    assert ranking["test_scores"] == [2.0, 1.0, 2.0, 1.0]
    assert ranking["top"] == "c1" and ranking["correct"] == ["c1"]


# --- the split ---------------------------------------------------------------


@pytest.mark.parametrize("method", TEST_METHODS)
def test_truth_tests_are_those_of_the_top_candidate(method):
    rows = ["PPPF", "PPPP", "PPPF", "PFFF", "EEEE"]
    ranking = rank_record(executed(rows), method)["ranking"]
    top = int(ranking["top"][1:])
    assert ranking["truth_tests"] == [f"t{j}" for j, ch in enumerate(rows[top]) if ch == "P"]
    truth = {int(t[1:]) for t in ranking["truth_tests"]}
    for i, row in enumerate(rows):
        passes_all = all(row[j] == "P" for j in truth)
        assert (f"c{i}" in ranking["correct"]) == passes_all
        assert (f"c{i}" in ranking["incorrect"]) == (not passes_all)
    assert ranking["reason"] is None and ranking["method"] == method


@pytest.mark.parametrize("method", METHODS)
def test_candidates_that_failed_to_load_are_never_correct(method):
    # c0 "passes" everything on paper but did not load: it must count for nothing.
    rows = ["PPPP", "PPFF", "PPFF", "FFPF"]
    ranking = rank_record(executed(rows, load=["error", "ok", "ok", "timeout"]), method)["ranking"]
    assert ranking["unloaded"] == ["c0", "c3"]
    assert "c0" not in ranking["correct"] + ranking["incorrect"]
    assert "c3" not in ranking["correct"] + ranking["incorrect"]
    assert ranking["top"] == "c1" and ranking["truth_tests"] == ["t0", "t1"]


@pytest.mark.parametrize("method", METHODS)
def test_ties_break_by_input_order(method):
    # Two symmetric camps: every method scores them equal, so the first candidate wins.
    rows = ["PPFF", "FFPP", "PPFF", "FFPP"]
    for perm in itertools.permutations(range(4)):
        ranking = rank_record(executed([rows[i] for i in perm]), method)["ranking"]
        assert ranking["top"] == "c0"
        assert len(ranking["correct"]) == 2 and ranking["correct"][0] == "c0"


@pytest.mark.parametrize(
    "rows, load, reason",
    [
        ([], None, "no candidates"),
        (["", ""], None, "no tests"),
        (["PP", "PF"], ["error", "crash"], "no candidate loaded"),
        (["FF", "EE", "TF"], None, "nothing passes"),
        (["PF", "PF", "PF"], None, "all equal"),
    ],
)
def test_records_without_a_usable_split_say_why(rows, load, reason):
    record = executed(rows, load)
    if not rows:
        record["execution"]["outcomes"] = []
    ranking = rank_record(record, "codedpo")["ranking"]
    assert ranking["reason"] == reason
    assert not (ranking["correct"] and ranking["incorrect"])


def test_all_correct_needs_top_tests_only():
    # codet may rank a big agreeing group above a lone candidate that passes more.
    rows = ["PPF", "PPF", "PPF", "PPF", "PPP"]
    ranking = rank_record(executed(rows), "codet")["ranking"]
    assert ranking["top"] == "c0" and ranking["reason"] == "all correct"
    assert ranking["correct"] == ["c0", "c1", "c2", "c3", "c4"]


def test_other_fields_are_kept():
    record = executed(["PF", "FP"])
    record["extra"] = {"kept": True}
    out = rank_record(record)
    assert out["extra"] == {"kept": True} and out["execution"] == record["execution"]


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda r: r.pop("execution"), "no execution.outcomes"),
        (lambda r: r["execution"]["outcomes"].pop(), "not 2 candidates × 2 tests"),
        (lambda r: r["execution"]["outcomes"][0].pop(), "not 2 candidates × 2 tests"),
        (lambda r: r["execution"]["load"].pop(), "execution.load has 1 entries"),
        (lambda r: r["execution"]["outcomes"][0].__setitem__(1, "banana"), "unknown outcome 'banana'"),
        (lambda r: r["execution"]["load"].__setitem__(0, ["ok"]), r"unknown outcome \['ok'\]"),
    ],
)
def test_malformed_execution_is_a_record_error(mutate, message):
    record = executed(["PF", "FP"])
    mutate(record)
    with pytest.raises(ValueError, match=message):
        pass_matrix(record)


# --- behaviour clusters and confidence --------------------------------------


def test_consensus_follows_the_largest_behaviour_not_wrong_expected_values():
    # Two of the three expected values are wrong (they agree with c3), but c0..c2 return the
    # same outputs: output consensus labels them correct; counting passed tests picks c3.
    rows = ["PFF", "PFF", "PFF", "FPP"]
    probes = ["abc", "abc", "abc", "xyz"]
    ranking = rank_record(executed(rows, probes=probes), "consensus")["ranking"]
    assert ranking["correct"] == ["c0", "c1", "c2"] and ranking["incorrect"] == ["c3"]
    assert ranking["evidence"]["probed"] and ranking["evidence"]["behaviours"] == 2
    assert rank_record(executed(rows, probes=probes), "count")["ranking"]["top"] == "c3"


def test_consensus_breaks_size_ties_by_tests_passed_and_dual_weighs_tests():
    rows = ["PPF", "PPF", "FFF", "FFF", "PPP"]
    probes = ["aaa", "aaa", "bbb", "bbb", "aac"]
    consensus = rank_record(executed(rows, probes=probes), "consensus")["ranking"]
    assert consensus["correct"] == ["c0", "c1"]
    # dual: √2·3 for {c0, c1} against √1·4 for c4 and √2·1 for {c2, c3}.
    dual = rank_record(executed(rows, probes=probes), "dual")["ranking"]
    assert dual["code_scores"] == [round(math.sqrt(2) * 3, 12)] * 2 + [round(math.sqrt(2), 12)] * 2 + [4.0]
    assert dual["correct"] == ["c0", "c1"] and set(dual["incorrect"]) == {"c2", "c3", "c4"}


@pytest.mark.parametrize("method", CLUSTER_METHODS)
def test_cluster_methods_without_probes_group_by_tests_passed(method):
    rows = ["PPF", "PPF", "PFF", "FFP"]
    ranking = rank_record(executed(rows), method)["ranking"]
    assert ranking["correct"] == ["c0", "c1"] and not ranking["evidence"]["probed"]


def test_a_cluster_that_passes_no_test_gives_no_split():
    rows = ["FF", "FF", "FF", "PF"]
    ranking = rank_record(executed(rows, probes=["aa", "aa", "aa", "bb"]), "consensus")["ranking"]
    assert ranking["reason"] == "top candidate passes no test" and ranking["confidence"] == 0.0


def test_confidence_is_the_margin_over_the_runner_up():
    rows = ["PP", "PP", "PP", "PF", "PF", "FF", "PP"]
    probes = ["aa", "aa", "aa", "ab", "ab", "cc", "aa"]
    ranking = rank_record(executed(rows, load=["ok"] * 6 + ["error"], probes=probes), "consensus")["ranking"]
    ev = ranking["evidence"]
    assert (ev["loaded"], ev["correct"], ev["runner_up"], ev["truth_tests"], ev["discriminating_tests"]) == (6, 3, 2, 2, 2)
    assert ranking["confidence"] == round((3 - 2) / (6 + 1), 6)
    agreeing = rank_record(executed(["PF", "PF"]), "codedpo")["ranking"]
    assert agreeing["reason"] == "all equal" and agreeing["confidence"] == round(2 / 3, 6)
    unusable = rank_record(executed(["FF", "FF"]), "codedpo")["ranking"]
    assert unusable["reason"] == "nothing passes" and unusable["confidence"] == 0.0


def test_probes_of_the_wrong_shape_are_a_record_error():
    record = executed(["PF", "FP"], probes=["ab", "ab"])
    record["execution"]["probes"][1].pop()
    with pytest.raises(ValueError, match="execution.probes is not 2 candidates × 2 tests"):
        pass_matrix(record)


# --- the command ---------------------------------------------------------------


def _env():
    env = dict(os.environ)
    env.pop("PYTHONUNBUFFERED", None)
    env.pop("FDPO_DEBUG", None)
    return env


def _run(fdpo_exe, args, data: bytes):
    return subprocess.run(fdpo_exe + args, input=data, capture_output=True, env=_env(), timeout=120)


def test_rank_command_streams_records_and_counts_errors(fdpo_exe):
    good = executed(["PPF", "PFF", "FFP"], pid="good")
    broken = executed(["PF", "FP"], pid="broken")
    broken["execution"]["outcomes"][0] = ["pass"]
    upstream = {"id": "up", "error": "sampling failed"}
    data = b"".join(orjson.dumps(r) + b"\n" for r in (good, broken, upstream))
    done = _run(fdpo_exe, ["rank", "--method", "count"], data)
    assert done.returncode == 0, done.stderr
    out = [orjson.loads(line) for line in done.stdout.splitlines()]
    assert [r["id"] for r in out] == ["good", "broken", "up"]
    assert out[0]["ranking"]["correct"] == ["c0"] and out[0]["ranking"]["method"] == "count"
    assert "not 2 candidates × 2 tests" in out[1]["error"]
    assert out[2] == upstream
    stderr = done.stderr.decode()
    assert "3 read, 3 written, 1 with error" in stderr and "usable split: 1" in stderr


def test_rank_command_rejects_an_unknown_method(fdpo_exe):
    done = _run(fdpo_exe, ["rank", "--method", "bogus"], b"")
    assert done.returncode == 2
    assert "codedpo" in done.stderr.decode()
