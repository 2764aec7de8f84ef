"""The problem's own examples as tests: the one evidence about correctness that the model did not write.

Most code prompts show the function at work: doctest lines (``>>> f(3)`` then
``True``), or example lines such as ``f(3) == True`` / ``f(3) ➞ True``. Each
such example whose expected value is a Python literal becomes a test
``assert f(3) == True`` (a float compares within 1e-6). AlphaCode filters its
samples by a problem's public examples the same way; ``fdpo execute`` adds them
to a record's tests with ``source: "prompt"`` and ``fdpo rank``'s cluster
methods never label a candidate correct that fails one.

Covers finding the examples in a prompt and writing them as tests. Does not
cover running them (``fdpo.sandbox``) or how ranking weighs them
(``fdpo.ranking``). Standard library only.
"""

from __future__ import annotations

import ast
import builtins
import doctest
import re

SOURCE = "prompt"
_QUOTES = ('"""', "'''")
#: ``f(args) == value``, ``f(args) ➞ value``, ``f(args) => value`` or ``f(args) -> value`` alone on a line.
_EXAMPLE_LINE = re.compile(r"^\s*(?P<call>[A-Za-z_]\w*\(.*\))\s*(?:==|➞|=>|->|→)\s*(?P<want>.+?)\s*$")


def _literal(text: str) -> object:
    """The value of a Python literal, or raises ValueError."""
    text = text.strip()
    for quote in _QUOTES:
        text = text.removesuffix(quote).strip()
    if not text:
        raise ValueError("empty")
    return ast.literal_eval(text)


def _call(source: str) -> str | None:
    """The call as clean code (comments dropped), or None unless it is a call whose arguments need no names
    but builtins (``is_happy(a)`` in a prose example is not runnable)."""
    tree = ast.parse(source, mode="eval").body
    if not isinstance(tree, ast.Call):
        return None
    for node in ast.walk(ast.Module(body=[ast.Expr(arg) for arg in [*tree.args, *(k.value for k in tree.keywords)]],
                                    type_ignores=[])):
        if isinstance(node, ast.Name) and not hasattr(builtins, node.id):
            return None
    return ast.unparse(tree)


def _test(source: str, want: str) -> str | None:
    try:
        call = _call(source)
        value = _literal(want)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return None
    if call is None:
        return None
    if isinstance(value, float):
        return f"assert abs(({call}) - {value!r}) <= 1e-6 * max(1.0, abs({value!r}))"
    return f"assert ({call}) == {value!r}"


def examples(prompt: str, entry_point: str | None = None) -> list[tuple[str, str]]:
    """(call, expected) pairs shown in the prompt, in order, without repeats."""
    found: list[tuple[str, str]] = []
    try:
        for ex in doctest.DocTestParser().get_examples(prompt):
            want = ex.want.strip().splitlines()
            if want and not want[0].startswith("Traceback"):
                found.append((ex.source.strip(), want[0]))
    except ValueError:  # inconsistent doctest indentation: fall back to the plain lines
        pass
    for line in prompt.splitlines():
        match = _EXAMPLE_LINE.match(line.replace(">>>", "", 1))
        if match and (entry_point is None or match["call"].startswith(f"{entry_point}(")):
            found.append((match["call"], match["want"]))
    return list(dict.fromkeys(found))


def prompt_tests(prompt: str, entry_point: str | None = None) -> list[str]:
    """The prompt's examples as test code; those whose expected value is not a literal are left out."""
    tests = (_test(call, want) for call, want in examples(prompt, entry_point))
    return list(dict.fromkeys(t for t in tests if t))


def with_prompt_tests(record: dict) -> dict:
    """The record with its prompt's examples appended to ``tests`` (``source: "prompt"``, ids ``prompt-K``);
    unchanged when it has them already or the prompt shows none."""
    tests = record.get("tests")
    prompt = record.get("prompt")
    if not isinstance(tests, list) or not isinstance(prompt, str) or any(
            isinstance(t, dict) and t.get("source") == SOURCE for t in tests):
        return record
    entry = record.get("entry_point")
    extra = [{"id": f"prompt-{k}", "response": "", "code": code, "source": SOURCE}
             for k, code in enumerate(prompt_tests(prompt, entry if isinstance(entry, str) else None))]
    return {**record, "tests": tests + extra} if extra else record
