"""Seed snippets: functions and methods of a useful size, cut out of Python source trees.

Covers finding the ``.py`` files under the given paths (minus excluded names),
parsing each with tree-sitter, keeping the functions and methods whose length
is in range and whose body is more than a stub, and giving each seed its code,
concepts and source (file, line, hash). Files are parsed in worker processes
with ``jobs`` > 1; the order of files and of seeds within a file is a shuffle
fixed by ``seed``, whatever ``jobs`` is. Does not cover what a seed becomes
(see ``fdpo.synth.problems``).
"""

from __future__ import annotations

import fnmatch
import functools
import hashlib
import multiprocessing
import os
import random
import textwrap
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from tree_sitter import Node

from fdpo.errors import FdpoError
from fdpo.synth.concepts import function_concepts, module_imports, text
from fdpo.synth import DEFAULT_EXCLUDE
from fdpo.synth.parsing import parse


# Statements that still leave a function a stub: ``pass``, ``...``, a lone string, ``raise NotImplementedError``.
_STUB_EXPRESSIONS = ("ellipsis", "string")

# Blocks at module or class level whose functions are still top-level definitions.
_CONTAINERS = ("if_statement", "elif_clause", "else_clause", "try_statement", "except_clause",
               "finally_clause", "with_statement", "block")


@dataclass(frozen=True)
class SeedRules:
    """Which functions make seeds: their length in lines, decorators included."""

    min_lines: int = 5
    max_lines: int = 80


def find_files(paths: list[str], exclude: tuple[str, ...] = DEFAULT_EXCLUDE) -> list[str]:
    """Python files under ``paths``, sorted per path; a file named directly is always taken."""
    found: dict[str, None] = {}
    for path in paths:
        p = Path(path)
        if p.is_file():
            found[str(p)] = None
        elif p.is_dir():
            for file in _walk(p, exclude):
                found[file] = None
        else:
            raise FdpoError(f"{path}: no such file or folder")
    return list(found)


def _walk(root: Path, exclude: tuple[str, ...]) -> list[str]:
    def excluded(name: str) -> bool:
        return any(fnmatch.fnmatchcase(name, pattern) for pattern in exclude)

    out = []
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not excluded(d))
        out.extend(os.path.join(folder, f) for f in sorted(files) if f.endswith(".py") and not excluded(f))
    return sorted(out)


def file_seeds(path: str, rules: SeedRules) -> tuple[list[dict], Counter]:
    """The seeds of one file, in source order, and counts of what was skipped and why."""
    counts: Counter = Counter()
    try:
        source = Path(path).read_bytes()
        source.decode("utf-8")
    except (OSError, UnicodeDecodeError):
        counts["unreadable files"] += 1
        return [], counts
    root = parse(source).root_node
    if root.has_error:  # Python would not import it: no seed is taken from a file that does not parse
        counts["unparseable files"] += 1
        return [], counts
    imports = module_imports(root)
    seeds = []
    for node, name in definitions(root):
        counts["functions"] += 1
        reason = _skip_reason(node, rules)
        if reason:
            counts[reason] += 1
            continue
        code = node_code(source, node)
        digest = seed_hash(code)
        seeds.append({
            "id": f"seed/{digest[:12]}",
            "name": name,
            "code": code,
            "concepts": function_concepts(node, imports),
            "source": {"file": path, "line": node.start_point.row + 1, "seed_hash": digest},
        })
    return seeds, counts


def definitions(root: Node) -> Iterator[tuple[Node, str]]:
    """Functions and methods (their decorated form where decorated) with qualified names; not nested ones."""
    stack: list[tuple[Node, str]] = [(c, "") for c in reversed(root.children)]
    while stack:
        node, prefix = stack.pop()
        inner = node.child_by_field_name("definition") if node.type == "decorated_definition" else node
        if inner is None:
            continue
        if inner.type == "function_definition":
            yield node, prefix + text(inner.child_by_field_name("name"))
        elif inner.type == "class_definition":
            body = inner.child_by_field_name("body")
            qual = prefix + text(inner.child_by_field_name("name")) + "."
            stack.extend((c, qual) for c in reversed(body.children if body else []))
        elif inner.type in _CONTAINERS:
            stack.extend((c, prefix) for c in reversed(inner.children))


def _skip_reason(node: Node, rules: SeedRules) -> str | None:
    lines = node.end_point.row - node.start_point.row + 1
    if lines < rules.min_lines:
        return "too short"
    if lines > rules.max_lines:
        return "too long"
    if node.has_error:
        return "syntax errors"
    function = node.child_by_field_name("definition") if node.type == "decorated_definition" else node
    if is_stub(function):
        return "stubs"
    return None


def is_stub(function: Node) -> bool:
    body = function.child_by_field_name("body")
    return all(_is_stub_statement(s) for s in (body.named_children if body else []))


def _is_stub_statement(statement: Node) -> bool:
    if statement.type in ("pass_statement", "comment"):
        return True
    if statement.type == "expression_statement":
        return all(c.type in _STUB_EXPRESSIONS for c in statement.named_children)
    if statement.type == "raise_statement":
        return "NotImplementedError" in text(statement)
    return False


def node_code(source: bytes, node: Node) -> str:
    """The node's source, dedented: a method reads like a function."""
    line_start = source.rfind(b"\n", 0, node.start_byte) + 1
    indent = source[line_start:node.start_byte]
    start = line_start if not indent.strip() else node.start_byte
    return textwrap.dedent(source[start:node.end_byte].decode("utf-8")) + "\n"


def seed_hash(code: str) -> str:
    normal = "\n".join(line.rstrip() for line in code.strip().splitlines())
    return hashlib.sha256(normal.encode()).hexdigest()[:16]


def iter_seeds(
    files: list[str], rules: SeedRules, *, seed: int = 0, jobs: int = 1, per_file: int = 0, counts: Counter
) -> Iterator[tuple[str, list[dict]]]:
    """(file, its seeds) in a shuffled order fixed by ``seed``; exact duplicates dropped.

    ``per_file`` > 0 keeps at most that many seeds of each file. ``counts``
    collects what every file skipped. Stopping early cancels the parsing left.
    """
    rng = random.Random(seed)
    order = list(files)
    rng.shuffle(order)
    seen: set[str] = set()
    work = functools.partial(file_seeds, rules=rules)
    with _mapper(jobs) as mapper:
        for path, (seeds, file_counts) in zip(order, mapper(work, order)):
            counts.update(file_counts)
            counts["files"] += 1
            rng.shuffle(seeds)
            kept = []
            for s in seeds:
                if s["source"]["seed_hash"] in seen:
                    counts["duplicate seeds"] += 1
                    continue
                if per_file and len(kept) >= per_file:
                    counts["over --per-file"] += 1
                    continue
                seen.add(s["source"]["seed_hash"])
                kept.append(s)
            yield path, kept


class _mapper:
    """``map`` in this process for one job, else over a process pool that is torn down on exit."""

    def __init__(self, jobs: int) -> None:
        self.jobs = jobs
        self.pool = None

    def __enter__(self):
        if self.jobs <= 1:
            return map
        # spawn, not fork: the parent may already hold a model and its threads.
        self.pool = ProcessPoolExecutor(self.jobs, mp_context=multiprocessing.get_context("spawn"))
        return functools.partial(self.pool.map, chunksize=4)

    def __exit__(self, *exc) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=True)
