"""Nothing lost: outputs survive failed and mistaken runs, repeated ids, interruptions; small input manners.

Real processes throughout (``python -m fdpo`` and the echo stage of the
streaming tests, which runs on the same driver but can be slowed down to be
interrupted mid-run).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import orjson
import pytest

from fdpo.jsonl import BOM, count_lines

FDPO = [sys.executable, "-m", "fdpo"]
ECHO = [sys.executable, str(Path(__file__).with_name("echo_stage.py")), "echo"]
OLD = b'{"id":"old","keep":"me"}\n'


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in ("PYTHONUNBUFFERED", "FDPO_DEBUG")}


def run(command: list[str], *args, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(command + [str(a) for a in args], capture_output=True, text=True, env=_env(), timeout=120, **kw)


def records(*ids) -> bytes:
    return b"".join(orjson.dumps({"id": i, "n": k}) + b"\n" for k, i in enumerate(ids))


def ids(path: Path) -> list:
    return [orjson.loads(line)["id"] for line in path.read_bytes().splitlines() if line.strip()]


@pytest.fixture()
def existing(tmp_path) -> Path:
    path = tmp_path / "existing.jsonl"
    path.write_bytes(OLD)
    return path


# 2. An output file is never damaged by a failed or mistaken run.


@pytest.mark.parametrize("bad", ["typo.jsonl", "a-directory"])
def test_a_missing_input_leaves_the_output_alone(tmp_path, existing, bad):
    (tmp_path / "a-directory").mkdir()
    done = run(FDPO, "rank", tmp_path / bad, "-o", existing)
    assert done.returncode == 1
    assert "no such file" in done.stderr or "is a directory" in done.stderr, done.stderr
    assert existing.read_bytes() == OLD


def test_input_equal_to_output_is_refused(tmp_path, existing):
    link = tmp_path / "link.jsonl"
    link.symlink_to(existing)
    for output in (existing, link):  # the same file, however it is named
        done = run(FDPO, "rank", existing, "-o", output)
        assert done.returncode == 2, done.stderr
        assert len(done.stderr.splitlines()) == 1 and "is also the input" in done.stderr, done.stderr
        assert existing.read_bytes() == OLD


def test_a_failed_run_keeps_the_old_output_and_what_it_wrote(tmp_path, existing):
    src = tmp_path / "in.jsonl"
    src.write_bytes(records("a", "b") + b"{not json\n" + records("c"))
    done = run(ECHO, src, "-o", existing)
    assert done.returncode == 1 and "line 3: invalid JSON" in done.stderr
    assert existing.read_bytes() == OLD  # untouched
    partial = tmp_path / "existing.jsonl.partial"
    assert ids(partial) == ["a", "b"] and str(partial) in " ".join(done.stderr.split())
    src.write_bytes(records("a", "b", "c"))
    assert run(ECHO, src, "-o", existing).returncode == 0
    assert ids(existing) == ["a", "b", "c"]  # a run that ends replaces the file


@pytest.mark.parametrize("sig, code, word", [(signal.SIGINT, 130, "interrupted"), (signal.SIGTERM, 143, "terminated")])
def test_an_interrupted_run_puts_its_output_in_place_for_resume(tmp_path, existing, sig, code, word):
    src = tmp_path / "in.jsonl"
    src.write_bytes(records(*(f"r{i}" for i in range(40))))
    partial = tmp_path / "existing.jsonl.partial"
    proc = subprocess.Popen(ECHO + [str(src), "-o", str(existing), "--delay", "0.05"], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True, env=_env())
    deadline = time.time() + 30
    while time.time() < deadline and (not partial.exists() or partial.read_bytes().count(b"\n") < 5):
        time.sleep(0.02)
    assert existing.read_bytes() == OLD  # while the run goes, the old file is whole
    proc.send_signal(sig)
    err = proc.communicate(timeout=30)[1]
    assert proc.returncode == code, err
    assert f"fdpo echo: {word}; rerun with --resume" in err
    assert "Traceback" not in err and "Aborted" not in err, err
    assert not partial.exists() and 5 <= len(ids(existing)) < 40
    done = run(ECHO, src, "-o", existing, "--resume")
    assert done.returncode == 0, done.stderr
    assert ids(existing) == [f"r{i}" for i in range(40)]


def test_side_outputs_are_checked_before_any_work(tmp_path):
    src = tmp_path / "in.jsonl"
    src.write_bytes(records("a"))
    a_file, a_dir = tmp_path / "file.txt", tmp_path / "folder"
    a_file.write_text("x")
    a_dir.mkdir()
    out = tmp_path / "out.jsonl"
    cases = [
        (["locate", src, "-o", out, "--stats-out", a_file / "phi.json"], "is not a directory"),
        (["locate", src, "-o", out, "--stats-out", a_dir], "--stats-out"),
        (["audit", src, "-o", out, "--report", a_dir], "--report"),
        (["select", src, "-o", out, "--val-out", a_dir], "--val-out"),
        (["rank", src, "-o", a_dir], "is a directory"),
        (["eval", "-b", "humaneval", "--samples", src, "-o", out, "--report", a_file / "r.json"], "is not a directory"),
        (["eval", "--compare", src, "--chart", a_dir], "--chart"),
        (["train", src, "-m", "builtin:tiny-coder", "-O", a_file], "not a folder"),
    ]
    for args, said in cases:
        done = run(FDPO, *args)
        assert done.returncode == 1, (args, done.stderr)
        assert said in done.stderr and len(done.stderr.strip().splitlines()) == 1, (args, done.stderr)
        assert not out.exists(), args  # nothing ran


def test_a_missing_folder_of_a_side_output_is_made(tmp_path):
    src = tmp_path / "in.jsonl"
    src.write_bytes(records("a"))
    done = run(FDPO, "locate", src, "--stats-out", tmp_path / "new" / "phi.json", "--min-confidence", "0")
    assert done.returncode == 0, done.stderr
    assert orjson.loads((tmp_path / "new" / "phi.json").read_bytes())


# 3. Repeated ids.


def test_resume_counts_repeated_ids(tmp_path):
    src, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    src.write_bytes(records("A", "A", "B", "C"))
    out.write_bytes(records("A"))  # a run stopped after the first A
    done = run(ECHO, src, "-o", out, "--resume")
    assert done.returncode == 0, done.stderr
    assert ids(out) == ["A", "A", "B", "C"]
    assert "3 read, 3 written, 1 already done (--resume), warning: 1 record repeats an earlier id ('A')" in done.stderr


def _ranked(pid: str, tag: str) -> dict:
    from fdpo.ranking.scoring import rank_record

    responses = [f"def f(x):\n    return x + {tag}\n", f"def f(x):\n    return x - {tag}\n"]
    record = {
        "id": pid, "prompt": "Write f.\n",
        "candidates": [{"id": f"c{i}", "response": r, "code": r} for i, r in enumerate(responses)],
        "tests": [{"id": f"t{j}", "response": "", "code": ""} for j in range(2)],
        "execution": {"outcomes": [["pass", "pass"], ["pass", "fail"]], "load": ["ok", "ok"]},
    }
    return rank_record(record, "codedpo")


def test_locate_keeps_pair_ids_unique_and_resumes_repeated_problems(tmp_path):
    src, out = tmp_path / "ranked.jsonl", tmp_path / "pairs.jsonl"
    src.write_bytes(b"".join(orjson.dumps(_ranked(pid, tag)) + b"\n" for pid, tag in [("p", "1"), ("p", "2"), ("q", "3")]))
    done = run(FDPO, "locate", src, "-o", out, "--min-confidence", "0")
    assert done.returncode == 0, done.stderr
    full = out.read_bytes()
    assert ids(out) == ["p:c0>c1", "p#2:c0>c1", "q:c0>c1"]
    assert [orjson.loads(line)["problem_id"] for line in full.splitlines()] == ["p", "p", "q"]
    assert "1 record repeats an earlier id ('p')" in done.stderr
    for kept in (1, 2):  # stopped after the first p, or after both: --resume redoes exactly the rest
        out.write_bytes(b"".join(full.splitlines(keepends=True)[:kept]))
        done = run(FDPO, "locate", src, "-o", out, "--min-confidence", "0", "--resume")
        assert done.returncode == 0, done.stderr
        assert out.read_bytes() == full


# 4. Small manners.


def test_progress_total_counts_records_not_blank_lines(tmp_path):
    path = tmp_path / "in.jsonl"
    path.write_bytes(BOM + records("a") + b"\n  \n" + records("b") + b"\r\n" + b'{"id": "c"}')
    assert count_lines(path) == 3


def test_a_byte_order_mark_is_accepted(tmp_path):
    src = tmp_path / "in.jsonl"
    src.write_bytes(BOM + records("a", "b"))
    done = run(ECHO, src)
    assert done.returncode == 0, done.stderr
    assert [orjson.loads(line)["id"] for line in done.stdout.splitlines()] == ["a", "b"]


def test_resume_says_when_it_cuts_a_partial_line_and_refuses_a_corrupt_middle(tmp_path):
    src, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    src.write_bytes(records("a", "b", "c"))
    out.write_bytes(records("a") + b'{"id": "b", "half')
    done = run(ECHO, src, "-o", out, "--resume")
    assert done.returncode == 0, done.stderr
    assert "cut off line 2" in done.stderr and "partial record" in done.stderr
    assert ids(out) == ["a", "b", "c"]
    out.write_bytes(records("a") + b"garbage\n" + records("b"))
    done = run(ECHO, src, "-o", out, "--resume")
    assert done.returncode == 1 and "line 2 is not a complete JSON record and more lines follow" in done.stderr
    assert out.read_bytes() == records("a") + b"garbage\n" + records("b")  # nothing cut
