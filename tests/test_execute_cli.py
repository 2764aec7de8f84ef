"""``fdpo execute`` on the command line: records in, records with ``execution`` out."""

from __future__ import annotations

import os
import select
import subprocess
import time

import orjson
import pytest
from typer.testing import CliRunner

from fdpo.cli import app
from fdpo.jsonl import read_records, write_records


def record(rid, codes, tests, **extra):
    return {
        "id": rid,
        "prompt": "p",
        "candidates": [{"id": f"{rid}-c{i}", "response": f"r{i}", "code": c} for i, c in enumerate(codes)],
        "tests": [{"id": f"{rid}-t{j}", "response": f"t{j}", "code": t} for j, t in enumerate(tests)],
        **extra,
    }


GOOD, BAD = "def f(x):\n    return x + 1\n", "def f(x):\n    return x - 1\n"
TESTS = ["assert f(1) == 2", "assert f(0) == 1", "assert f(1) > 0"]


@pytest.fixture()
def sampled(tmp_path):
    path = tmp_path / "sampled.jsonl"
    write_records(path, [
        record("a", [GOOD, BAD, GOOD, None, "def f(x) return"], TESTS, sampling={"seed": 1}),
        {"id": "b", "error": "sample: upstream failure"},
        record("c", [], TESTS),
        record("d", ["while True: pass", GOOD], ["assert f(1) == 2", None]),
    ])
    return path


def invoke(*args):
    return CliRunner().invoke(app, ["execute", *args])


def test_help_is_instant_and_has_an_example():
    result = invoke("--help")
    assert result.exit_code == 0
    assert "Example: fdpo execute" in result.stdout
    for option in ("--timeout", "--jobs", "--memory", "--isolation", "--pin-workers", "--output", "--resume",
                   "--shard"):
        assert option in result.stdout


def test_executes_records_and_keeps_every_field(sampled, tmp_path):
    out = tmp_path / "out.jsonl"
    result = invoke(str(sampled), "-o", str(out), "--timeout", "0.5", "--jobs", "2")
    assert result.exit_code == 0, result.stderr
    a, b, c, d = read_records(out)
    assert a["sampling"] == {"seed": 1} and a["prompt"] == "p" and len(a["candidates"]) == 5
    ex = a["execution"]
    assert ex["outcomes"] == [["pass"] * 3, ["fail", "fail", "fail"], ["pass"] * 3, ["error"] * 3, ["error"] * 3]
    assert ex["load"] == ["ok", "ok", "ok", "error", "error"]
    assert ex["load_reasons"][3] == "the candidate has no code"
    assert ex["load_reasons"][4].startswith("SyntaxError")
    assert ex["reasons"][1][0] == "AssertionError" and ex["reasons"][0] == [None] * 3
    assert len(ex["seconds"]) == 5 and all(len(row) == 3 for row in ex["seconds"])
    assert len(ex["candidate_seconds"]) == 5 and ex["limits"] == {"timeout": 0.5, "memory_mb": 2048}
    assert b == {"id": "b", "error": "sample: upstream failure"}
    assert c["error"] == "no candidates to execute" and "execution" not in c
    assert d["execution"]["outcomes"] == [["timeout", "error"], ["pass", "error"]]
    assert d["execution"]["reasons"][1][1] == "the test has no code"
    said = " ".join(result.stderr.split())  # rich wraps long lines
    for count in ("pass: 7", "fail: 3", "error: 8", "timeout: 1", "crash: 0", "1 with error",
                  "upstream errors passed on: 1", "outcomes/s"):
        assert count in said
    assert "namespaces" in said  # the isolation that holds is said once


def test_a_fork_per_candidate_gives_the_same_records(sampled, tmp_path):
    runs = {}
    for isolation in ("test", "candidate"):
        out = tmp_path / f"{isolation}.jsonl"
        result = invoke(str(sampled), "-o", str(out), "--timeout", "0.5", "--isolation", isolation)
        assert result.exit_code == 0, result.stderr
        timings = ("seconds", "candidate_seconds")
        runs[isolation] = [{k: v for k, v in r.get("execution", {}).items() if k not in timings}
                           for r in read_records(out)]
    assert runs["candidate"] == runs["test"]


def test_memory_limit_option(tmp_path):
    path = tmp_path / "in.jsonl"
    write_records(path, [record("m", [GOOD], ["x = bytearray(300 * 2**20)"])])
    low = invoke(str(path), "--memory", "200")
    high = invoke(str(path), "--memory", "1024")
    assert orjson.loads(low.stdout)["execution"]["reasons"] == [["MemoryError"]]
    assert orjson.loads(high.stdout)["execution"]["outcomes"] == [["pass"]]


@pytest.mark.parametrize("args", [["--timeout", "0"], ["--jobs", "0"], ["--memory", "1"], ["--isolation", "process"]])
def test_bad_option_values_are_usage_errors(sampled, args):
    result = invoke(str(sampled), *args)
    assert result.exit_code == 2


def test_resume_and_shard(sampled, tmp_path):
    out = tmp_path / "out.jsonl"
    assert invoke(str(sampled), "-o", str(out), "--shard", "0/2", "--timeout", "0.5").exit_code == 0
    assert [r["id"] for r in read_records(out)] == ["a", "c"]
    out.write_bytes(out.read_bytes().split(b"\n")[0] + b"\n" + b'{"id": "c", "trunc')  # killed mid-write
    result = invoke(str(sampled), "-o", str(out), "--resume", "--timeout", "0.5")
    assert result.exit_code == 0, result.stderr
    assert [r["id"] for r in read_records(out)] == ["a", "b", "c", "d"]
    assert "1 already done" in result.stderr


def test_streams_record_by_record_through_pipes(fdpo_exe):
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
    proc = subprocess.Popen([*fdpo_exe, "execute", "--jobs", "2"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=env)
    try:
        for rid in ("s1", "s2", "s3"):
            proc.stdin.write(orjson.dumps(record(rid, [GOOD], TESTS)) + b"\n")
            proc.stdin.flush()
            line = _read_line(proc.stdout, 20)  # answered before the next record is even written
            assert orjson.loads(line)["id"] == rid
        proc.stdin.close()
        assert proc.wait(20) == 0
    finally:
        proc.kill()


@pytest.mark.parametrize("flag, placement", [("--pin-workers", "1 worker, pinned to CPU "),
                                             ("--no-pin-workers", "1 worker, placed by the scheduler")])
def test_says_where_its_workers_run(sampled, tmp_path, flag, placement):
    result = invoke(str(sampled), "-o", str(tmp_path / "out.jsonl"), "--timeout", "0.5", "--jobs", "1", flag)
    assert result.exit_code == 0, result.stderr
    assert placement in " ".join(result.stderr.split())  # (the line may be wrapped)


def _read_line(stream, seconds: float) -> bytes:
    deadline = time.monotonic() + seconds
    data = b""
    while not data.endswith(b"\n"):
        ready, _, _ = select.select([stream], [], [], max(0.0, deadline - time.monotonic()))
        assert ready, "no output line in time: the stage is not streaming"
        data += os.read(stream.fileno(), 1 << 16)
    return data


def test_closed_output_pipe_ends_quietly(sampled, fdpo_exe):
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
    result = subprocess.run(f"{' '.join(fdpo_exe)} execute {sampled} --timeout 0.5 | head -c 10", shell=True,
                            capture_output=True, env=env, timeout=60)
    assert len(result.stdout) == 10 and b"Traceback" not in result.stderr
