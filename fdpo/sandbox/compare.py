"""EvalPlus's output comparison, importable inside the sandbox (the worker preloads it).

``assert_matches(out, expected, atol)`` passes when ``out == expected``, or,
with a tolerance (EvalPlus sets 1e-6 for float outputs when none is given),
when types and lengths match and every number is within ``atol`` plus a
relative 1e-7, as ``numpy.allclose`` judges; NaN matches NaN. Standard library
only and small: every test process that uses it shares the worker's copy.
Does not cover building tests (see ``testcode``).
"""

from __future__ import annotations

import math
from typing import Any

_RTOL = 1e-7  # numpy.allclose / assert_allclose default, as EvalPlus uses it


def assert_matches(out: Any, expected: Any, atol: float = 0.0) -> None:
    """Raise AssertionError unless ``out`` matches ``expected`` as EvalPlus judges it."""
    if out == expected:
        return
    if atol == 0 and is_floats(expected):
        atol = 1e-6  # EvalPlus enforces a tolerance for float outputs
    assert atol != 0, f"expected {_short(expected)}, got {_short(out)}"
    assert type(out) is type(expected), f"expected a {type(expected).__name__}, got a {type(out).__name__}"
    if isinstance(expected, (list, tuple)):
        assert len(out) == len(expected), f"expected {len(expected)} items, got {len(out)}"
    assert _close(out, expected, atol), f"expected {_short(expected)} within {atol:g}, got {_short(out)}"


def is_floats(x: Any) -> bool:
    if isinstance(x, float):
        return True
    return isinstance(x, (list, tuple)) and all(isinstance(i, float) for i in x)


def _close(a: Any, b: Any, atol: float) -> bool:
    if isinstance(b, (list, tuple)):
        return isinstance(a, (list, tuple)) and len(a) == len(b) and all(_close(x, y, atol) for x, y in zip(a, b))
    try:
        a, b = float(a), float(b)
    except (TypeError, ValueError):
        return a == b
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    if math.isinf(a) or math.isinf(b):
        return a == b
    return abs(a - b) <= atol + _RTOL * abs(b)


def _short(value: Any, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"
