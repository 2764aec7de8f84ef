"""`fdpo execute | fdpo rank | fdpo locate` end to end: real sandbox, real pipes, real parses."""

from __future__ import annotations

import ast
import os
import subprocess

import orjson
import pytest


def _sampled() -> list[dict]:
    add = "def add(a, b):\n"
    completions = ["    return a + b\n", "    return a + b\n", "    return b + a\n", "    return a - b\n", "    return a * b\n"]
    fence = "Sure:\n```python\n{}```\nDone.\n"
    squares = ["def sq(x):\n    return x * x\n", "def sq(x):\n    return x ** 2\n", "def sq(x):\n    return x + x\n"]
    return [
        {
            "id": "add",
            "prompt": add,
            "candidates": [{"id": f"c{i}", "response": r, "code": add + r} for i, r in enumerate(completions)],
            "tests": [
                {"id": f"t{j}", "response": t, "code": t}
                for j, t in enumerate(["assert add(1, 2) == 3", "assert add(0, 0) == 0", "assert add(2, 2) == 4", "assert add(1, 1) == 3"])
            ],
        },
        {
            "id": "sq",
            "prompt": "Write sq(x), the square of x.",
            "candidates": [{"id": f"c{i}", "response": fence.format(code), "code": code} for i, code in enumerate(squares)],
            "tests": [
                {"id": f"t{j}", "response": t, "code": t}
                for j, t in enumerate(["assert sq(3) == 9", "assert sq(2) == 4", "assert sq(0) == 0", "assert sq(-1) == 1"])
            ],
        },
    ]


@pytest.mark.slow
def test_execute_rank_locate_pipeline(fdpo_exe):
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONUNBUFFERED", "FDPO_DEBUG")}
    stages = [["execute", "--timeout", "5", "--jobs", "2"], ["rank"], ["locate", "--pairs-per-problem", "4"]]
    procs, stdin = [], subprocess.PIPE
    for args in stages:
        proc = subprocess.Popen(fdpo_exe + args, stdin=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
        if procs:
            procs[-1].stdout.close()  # the next stage owns the pipe now
        procs.append(proc)
        stdin = proc.stdout
    procs[0].stdin.write(b"".join(orjson.dumps(r) + b"\n" for r in _sampled()))
    procs[0].stdin.close()
    out, err = procs[-1].communicate(timeout=300)
    for proc in procs[:-1]:
        assert proc.wait(timeout=60) == 0, proc.stderr.read().decode()
    assert procs[-1].returncode == 0, err.decode()

    pairs = [orjson.loads(line) for line in out.splitlines()]
    by_problem = {pid: [p for p in pairs if p["problem_id"] == pid] for pid in ("add", "sq")}
    # add: a + b and b + a are correct (two distinct texts), a - b and a * b are not.
    assert {(p["chosen_id"], p["rejected_id"]) for p in by_problem["add"]} == {
        (c, r) for c in ("c0", "c2") for r in ("c3", "c4")
    }
    assert {(p["chosen_id"], p["rejected_id"]) for p in by_problem["sq"]} == {("c0", "c2"), ("c1", "c2")}
    for p in pairs:
        spans = {side: {k: p[side][a:b] for k, (a, b) in p["spans"][side].items()} for side in ("chosen", "rejected")}
        assert spans["chosen"]["prefix"] == spans["rejected"]["prefix"]
        assert spans["chosen"]["suffix"] == spans["rejected"]["suffix"]
        assert p["locate"]["snap"] == {"chosen": "syntax", "rejected": "syntax"}
        for side in ("chosen", "rejected"):
            ast.parse(spans[side]["mid"], mode="eval")  # each mid is one whole expression
    mids = {(p["chosen_id"], p["rejected_id"]): p["rejected"][slice(*p["spans"]["rejected"]["mid"])] for p in by_problem["sq"]}
    assert mids[("c0", "c2")] == "x + x"
