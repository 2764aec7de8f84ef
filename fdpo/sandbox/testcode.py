"""Building tests as code for the sandbox: HumanEval checks and EvalPlus input/output comparisons.

A sandbox test is Python source run in the candidate's namespace. ``check_test``
wraps a HumanEval test program (which defines ``check``); ``io_test`` calls the
entry point on inputs and compares with the expected output the way EvalPlus
does (exact equality, else floats within ``atol`` plus a relative 1e-7).
Values are literals when small and ``marshal`` bytes when big (which compile
fast), keeping their exact types either way; a comparison with a tolerance
imports ``compare.assert_matches`` inside the sandbox. Does not cover
benchmark-specific oracles (eval writes those as test code).
"""

from __future__ import annotations

import ast
import marshal
import math
from collections.abc import Sequence
from typing import Any

from fdpo.sandbox.compare import assert_matches, is_floats

__all__ = ["assert_matches", "check_test", "io_test"]
_LITERAL_CHARS = 2000  # longer values compile faster as marshal bytes


def check_test(test_program: str, entry_point: str) -> str:
    """HumanEval style: the problem's test program, then ``check(<entry_point>)``."""
    return f"{test_program}\n\ncheck({entry_point})\n"


def io_test(entry_point: str, args: Sequence, expected: Any, atol: float = 0.0) -> str:
    """EvalPlus style: ``entry_point(*args)`` must match ``expected``, as test code.

    When EvalPlus would compare with ``==`` alone (no tolerance, no float
    output) the test is a bare ``assert``; otherwise it calls ``assert_matches``.
    Small values are written as literals, big ones as ``marshal`` bytes.
    """
    call, want = f"{entry_point}(*{_value(list(args))})", _value(expected)
    head = "from marshal import loads as _fdpo_loads\n" if "_fdpo_loads(" in call + want else ""
    if atol == 0 and not is_floats(expected):
        return head + f"assert {call} == {want}\n"
    return (head + "from fdpo.sandbox.compare import assert_matches as _fdpo_assert_matches\n"
            f"_fdpo_assert_matches({call}, {want}, {float(atol)!r})\n")


def _value(value: Any) -> str:
    """Source that evaluates to ``value``, with its exact types."""
    text = repr(value)
    if len(text) <= _LITERAL_CHARS and _round_trips(text, value):
        return text
    try:
        return f"_fdpo_loads({marshal.dumps(value)!r})"
    except ValueError:  # not marshallable (e.g. a custom class): its repr must do
        return text


def _round_trips(text: str, value: Any) -> bool:
    try:
        back = ast.literal_eval(text)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return False
    return _same(back, value)


def _same(a: Any, b: Any) -> bool:
    if type(a) is not type(b):
        return False
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, float) and math.isnan(a):
        return math.isnan(b)
    return a == b
