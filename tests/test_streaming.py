"""The shared JSONL layer as users meet it: real processes, real pipes, real kills."""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import orjson
import pytest

HARNESS = [sys.executable, str(Path(__file__).with_name("echo_stage.py")), "echo"]


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("PYTHONUNBUFFERED", None)  # it would hide missing flushes
    env.pop("FDPO_DEBUG", None)
    return env


def _records(n: int, start: int = 0) -> bytes:
    return b"".join(orjson.dumps({"id": f"r{i}", "n": i}) + b"\n" for i in range(start, start + n))


def _ids(data: bytes) -> list[str]:
    return [orjson.loads(line)["id"] for line in data.splitlines() if line.strip()]


def run(args, stdin: bytes | None = None, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(HARNESS + args, input=stdin, capture_output=True, env=_env(), timeout=60, **kw)


@pytest.mark.parametrize("how", ["file", "dash", "stdin"])
def test_input_from_file_dash_or_stdin(tmp_path, how):
    data = _records(5)
    path = tmp_path / "in.jsonl"
    path.write_bytes(data)
    args, stdin = {"file": ([str(path)], None), "dash": (["-"], data), "stdin": ([], data)}[how]
    done = run(args, stdin)
    assert done.returncode == 0, done.stderr
    assert _ids(done.stdout) == [f"r{i}" for i in range(5)]
    assert all(orjson.loads(l)["seen"] for l in done.stdout.splitlines())
    assert b"5 read, 5 written" in done.stderr  # the summary is on stderr, not in the data


def test_output_file_keeps_stdout_empty(tmp_path):
    out = tmp_path / "sub" / "out.jsonl"
    done = run(["-o", str(out)], _records(3))
    assert done.returncode == 0
    assert done.stdout == b""
    assert _ids(out.read_bytes()) == ["r0", "r1", "r2"]


def test_first_record_comes_out_before_input_ends():
    proc = subprocess.Popen(HARNESS, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=_env())
    try:
        proc.stdin.write(_records(1))
        proc.stdin.flush()
        ready, _, _ = select.select([proc.stdout], [], [], 30)
        assert ready, "no output while the input is still open: records are not streamed"
        assert orjson.loads(proc.stdout.readline())["id"] == "r0"
        assert proc.poll() is None  # still waiting for more input
        proc.stdin.write(_records(1, start=1))
        proc.stdin.close()
        assert _ids(proc.stdout.read()) == ["r1"]
    finally:
        proc.kill()
        proc.wait()


def test_closed_pipe_ends_quietly(tmp_path):
    big = tmp_path / "big.jsonl"
    big.write_bytes(_records(20000))
    proc = subprocess.Popen(HARNESS + [str(big)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=_env())
    first = proc.stdout.readline()
    proc.stdout.close()  # like `| head -1`
    _, err = proc.communicate(timeout=60)
    assert orjson.loads(first)["id"] == "r0"
    assert b"Traceback" not in err and b"BrokenPipe" not in err, err.decode()
    assert proc.returncode in (0, 1, -signal.SIGPIPE)


def test_malformed_line_names_the_line(tmp_path):
    bad = _records(2) + b'{"id": "r2", oops\n' + _records(1, start=3)
    done = run([], bad)
    assert done.returncode == 1
    assert b"fdpo echo: error: line 3: invalid JSON" in done.stderr
    assert b"Traceback" not in done.stderr
    assert _ids(done.stdout) == ["r0", "r1"]


def test_non_object_line(tmp_path):
    done = run([], _records(1) + b"[1, 2]\n")
    assert done.returncode == 1
    assert b"line 2: expected a JSON object, got list" in done.stderr


def test_skip_invalid_counts_the_lines():
    bad = _records(1) + b"nope\n" + _records(1, start=1) + b"42\n"
    done = run(["--skip-invalid"], bad)
    assert done.returncode == 0
    assert _ids(done.stdout) == ["r0", "r1"]
    assert b"2 invalid lines skipped (2, 4)" in done.stderr


def test_debug_shows_traceback():
    env = _env() | {"FDPO_DEBUG": "1"}
    done = subprocess.run(HARNESS, input=b"oops\n", capture_output=True, env=env, timeout=60)
    assert done.returncode == 1
    assert b"Traceback" in done.stderr


def test_record_error_is_passed_on_and_counted():
    data = _records(1) + orjson.dumps({"id": "x", "boom": True}) + b"\n" + _records(1, start=2)
    done = run([], data)
    assert done.returncode == 0
    lines = [orjson.loads(l) for l in done.stdout.splitlines()]
    assert [l["id"] for l in lines] == ["r0", "x", "r2"]
    assert lines[1]["error"] == "ValueError: boom"
    assert b"1 with error" in done.stderr


def test_usage_errors_exit_2(tmp_path):
    assert run(["--shard", "5/2"], b"").returncode == 2
    assert run(["--no-such-flag"], b"").returncode == 2


def test_missing_file_is_an_error(tmp_path):
    done = run([str(tmp_path / "nope.jsonl")])
    assert done.returncode == 1
    assert b"no such file" in done.stderr


def test_shards_partition_the_input(tmp_path):
    path = tmp_path / "in.jsonl"
    path.write_bytes(_records(10))
    seen = []
    for i in range(3):
        done = run([str(path), "--shard", f"{i}/3"])
        assert done.returncode == 0
        seen.append(_ids(done.stdout))
    assert seen[0] == ["r0", "r3", "r6", "r9"]
    assert sorted(sum(seen, [])) == sorted(f"r{i}" for i in range(10))


def test_resume_after_sigkill_gives_every_id_once(tmp_path):
    path, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    path.write_bytes(_records(40))
    proc = subprocess.Popen(
        HARNESS + [str(path), "-o", str(out), "--delay", "0.05"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=_env(),
    )
    deadline = time.time() + 30
    while time.time() < deadline and (not out.exists() or out.read_bytes().count(b"\n") < 10):
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    partial = _ids(out.read_bytes())
    assert 10 <= len(partial) < 40, "the kill should land mid-run"
    with out.open("ab") as f:
        f.write(b'{"id": "r999", "half-writ')  # a line cut off by the kill
    done = run([str(path), "-o", str(out), "--resume"])
    assert done.returncode == 0, done.stderr
    ids = _ids(out.read_bytes())
    assert sorted(ids) == sorted(f"r{i}" for i in range(40))
    assert len(ids) == len(set(ids)) == 40
    assert f"{len(partial)} already done".encode() in done.stderr


def test_resume_needs_an_output_file():
    done = run(["--resume"], _records(1))
    assert done.returncode == 1
    assert b"--resume needs -o FILE" in done.stderr
