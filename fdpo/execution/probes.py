"""Output probes: what a candidate *returns* on a test's inputs, whatever the test expects.

A model-written test such as ``assert add(2, 3) == 6`` carries a useful input
and a possibly wrong expected value. The probe of that test evaluates every
operand of every ``assert`` (``add(2, 3)`` and ``6``; the whole condition when
it is not a comparison) without judging it, and leaves a short digest of the
values it saw in the variable ``__fdpo_probe__``; the sandbox reports a digest
of it as the reason of the probe's ``pass`` (``fdpo.sandbox.runner``). Candidates with equal digests behaved the same
on that test's inputs, so the ranking can cluster candidates by behaviour
(MBR-exec / AlphaCode style) and stay robust to wrong expected values.

Values are put in a canonical text first, so that behaviour that tests cannot
tell apart digests alike: floats to 6 decimals (an integral float as its
integer), ``True``/``False`` as 1/0, sets and dicts sorted, memory addresses
dropped; an exception digests as its type name.

Covers building a probe from a test's code (``probe_code``). Does not cover
running it (``fdpo.sandbox``) or clustering (``fdpo.ranking``). Standard
library only.
"""

from __future__ import annotations

import ast

#: Name of the variable a probe leaves its digest in.
RESULT = "__fdpo_probe__"

_PRELUDE = '''
__fdpo_seen = []
def __fdpo_canon(v, depth=0):
    if depth > 12:
        return "..."
    t = type(v)
    if t is bool:
        return str(int(v))
    if t is float:
        if v != v or v in (float("inf"), float("-inf")):
            return repr(v)
        v = round(v, 6)
        return str(int(v)) if v.is_integer() and abs(v) < 1e15 else repr(v)
    if t in (int, str, bytes, complex) or v is None:
        return repr(v)
    if t in (list, tuple):
        inner = ",".join(__fdpo_canon(x, depth + 1) for x in v)
        return ("[%s]" if t is list else "(%s)") % inner
    if t in (set, frozenset):
        return "{%s}" % ",".join(sorted(__fdpo_canon(x, depth + 1) for x in v))
    if t is dict:
        items = sorted(__fdpo_canon(k, depth + 1) + ":" + __fdpo_canon(x, depth + 1) for k, x in v.items())
        return "{%s}" % ",".join(items)
    shown = repr(v)
    return t.__name__ + ("" if " at 0x" in shown else ":" + shown)
def __fdpo_see(thunk):
    try:
        text = __fdpo_canon(thunk())
    except BaseException as exc:
        text = "!" + type(exc).__name__
    __fdpo_seen.append(text[:100000])
'''

_EPILOGUE = f'''
{RESULT} = "\\x00".join(__fdpo_seen)
'''


class _AssertsToProbes(ast.NodeTransformer):
    """Each ``assert`` becomes calls that record its operands instead of checking them."""

    def __init__(self) -> None:
        self.found = 0

    def visit_Assert(self, node: ast.Assert) -> list[ast.stmt]:
        self.found += 1
        test = node.test
        parts = [test.left, *test.comparators] if isinstance(test, ast.Compare) else [test]
        return [ast.copy_location(ast.Expr(_see(part)), node) for part in parts]


def _see(expr: ast.expr) -> ast.Call:
    thunk = ast.Lambda(args=ast.arguments(posonlyargs=[], args=[], kwonlyargs=[], kw_defaults=[], defaults=[]), body=expr)
    return ast.Call(func=ast.Name("__fdpo_see", ast.Load()), args=[thunk], keywords=[])


def probe_code(test: str) -> str | None:
    """The probe of a test's code, or None when it has no ``assert`` (or does not parse)."""
    try:
        tree = ast.parse(test)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None
    transformer = _AssertsToProbes()
    try:
        tree = ast.fix_missing_locations(transformer.visit(tree))
        body = ast.unparse(tree)
    except RecursionError:
        return None
    if not transformer.found:
        return None
    return _PRELUDE + body + _EPILOGUE
