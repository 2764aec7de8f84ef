"""Extraction on realistic responses: real tree-sitter parses, checked by CPython."""

from __future__ import annotations

import ast

import pytest

from fdpo.sampling.extract import (
    CODE_STOPS,
    collect_tests,
    cut_at_stops,
    defined_names,
    extract_code,
    extract_tests,
    fenced_blocks,
    keep_definitions,
    statements,
)

HE_PROMPT = '''from typing import List


def below_zero(operations: List[int]) -> bool:
    """ Détecte un solde négatif — return True if the balance ever falls below zero.
    >>> below_zero([1, 2, -4, 5])
    True
    """
'''


def run(code: str, call: str):
    scope: dict = {}
    exec(compile(code, "<candidate>", "exec"), scope)
    return eval(call, scope)


# --- completion style -----------------------------------------------------------------


def test_completion_is_prompt_plus_response_when_all_is_valid():
    response = "    balance = 0\n    for op in operations:\n        balance += op\n        if balance < 0:\n            return True\n    return False\n"
    code = extract_code(response, style="completion", prompt=HE_PROMPT, entry_point="below_zero")
    assert code == HE_PROMPT + response  # nothing to drop: the exact text, comments and all
    assert run(code, "below_zero([1, 2, -4, 5])") is True


@pytest.mark.parametrize("stop", ["\nif __name__", "\nprint(", "\n#", "\nassert", "\ndef ", "\n```"])
def test_completion_cuts_at_the_first_stop(stop):
    body = "    return any(sum(operations[:i + 1]) < 0 for i in range(len(operations)))\n"
    tail = {"\nif __name__": 'if __name__ == "__main__":\n    main()\n'}.get(stop, stop[1:] + " whatever(1)\n")
    code = extract_code(body + "\n" + tail, style="completion", prompt=HE_PROMPT, entry_point="below_zero")
    assert code == HE_PROMPT + body
    assert run(code, "below_zero([1, -2])") is True


def test_cut_at_stops_takes_the_earliest_and_keeps_text_without_stops():
    assert cut_at_stops("a\n#b\nprint(c)", CODE_STOPS) == "a"
    assert cut_at_stops("a\nprint(c)\n#b", CODE_STOPS) == "a"
    assert cut_at_stops("a b c", CODE_STOPS) == "a b c"
    assert cut_at_stops("a b c", None) == "a b c"


def test_truncated_completion_drops_the_broken_function_but_keeps_the_rest():
    response = "    balance = 0\n    for op in operations:\n        balance += (op"
    code = extract_code(response, style="completion", prompt=HE_PROMPT, entry_point="below_zero")
    ast.parse(code)
    assert defined_names(code) == []
    assert "from typing import List" in code


def test_prompt_helpers_are_kept_in_completion_style():
    prompt = 'def encode(s: str) -> str:\n    return s[::-1]\n\n\ndef decode(s: str) -> str:\n    """Undo encode."""\n'
    code = extract_code("    return encode(s)\n", style="completion", prompt=prompt, entry_point="decode")
    assert defined_names(code) == ["encode", "decode"]
    assert run(code, "decode(encode('abc'))") == "abc"


def test_trailing_prose_and_example_calls_are_dropped():
    source = (
        "import math\n\ndef area(r):\n    return math.pi * r * r\n"
        "This function computes the area.\n"
        "print(area(2))\n"
        "area(3)\n"
        "PI2 = math.pi * 2\n"
        'if __name__ == "__main__":\n    print(area(1))\n'
    )
    code = keep_definitions(source)
    assert defined_names(code) == ["area"]
    assert "PI2 = math.pi * 2" in code and "print" not in code and "This function" not in code
    assert run(code, "round(area(1), 5)") == 3.14159


def test_valid_code_after_an_error_is_recovered():
    source = "def f(:\n    pass\n\n@staticmethod\ndef g(x):\n    return [\n        x,\n]\n\nclass K:\n    y = 1\n"
    found, skipped = statements(source)
    assert skipped
    assert defined_names(source) == ["g", "K"]
    ast.parse(keep_definitions(source))


# --- chat style -----------------------------------------------------------------------

CHAT_REPLY = '''Sure! Here is an implementation:

```python
from typing import List


def below_zero(operations: List[int]) -> bool:
    balance = 0
    for op in operations:
        balance += op
        if balance < 0:
            return True
    return False


# Example usage
print(below_zero([1, 2, -4, 5]))
```

It keeps a running balance. You can test it like this:

```python
assert below_zero([1, 2, 3]) is False
```
'''


def test_chat_takes_the_block_that_defines_the_entry_point():
    code = extract_code(CHAT_REPLY, style="chat", prompt=HE_PROMPT, entry_point="below_zero")
    assert defined_names(code) == ["below_zero"]
    assert "print(" not in code and "Sure!" not in code
    assert run(code, "below_zero([1, 2, -4, 5])") is True


def test_chat_adds_the_prompts_imports_and_helpers_it_left_out():
    prompt = "import math\n\ndef helper(x):\n    return x * 2\n\n\ndef solve(x: float) -> float:\n    '''Double the square root.'''\n"
    reply = "```python\ndef solve(x: float) -> float:\n    return helper(math.sqrt(x))\n```"
    code = extract_code(reply, style="chat", prompt=prompt, entry_point="solve")
    assert defined_names(code) == ["helper", "solve"]
    assert run(code, "solve(16.0)") == 8.0


def test_chat_reply_without_fences_and_truncated_fence():
    bare = "def solve(x):\n    return x + 1\n\nThat's it."
    assert run(extract_code(bare, style="chat", entry_point="solve"), "solve(1)") == 2
    truncated = "Here you go:\n```python\ndef solve(x):\n    return x + 1\n\ndef other(y):\n    return (y"
    code = extract_code(truncated, style="chat", entry_point="solve")
    assert defined_names(code) == ["solve"]


def test_chat_block_holding_only_the_body_continues_the_prompt():
    reply = "```python\n    return any(x < 0 for x in operations)\n```"
    code = extract_code(reply, style="chat", prompt=HE_PROMPT, entry_point="below_zero")
    assert run(code, "below_zero([3, -1])") is True


def test_fenced_blocks_ignore_other_languages():
    reply = "```bash\npip install x\n```\n```py\nx = 1\n```\n```\ny = 2\n```"
    assert fenced_blocks(reply) == ["x = 1\n", "y = 2\n"]


# --- tests ----------------------------------------------------------------------------


def test_completion_tests_continue_the_lead_and_split_into_single_asserts():
    response = "[1, 2, -4, 5]) == True\nassert below_zero([1, 2, 3]) == False\nassert below_zero([]) == False\nassert below_zero([-1"
    tests = extract_tests(response, style="completion", lead="assert below_zero(", entry_point="below_zero")
    assert tests == [
        "assert below_zero([1, 2, -4, 5]) == True",
        "assert below_zero([1, 2, 3]) == False",
        "assert below_zero([]) == False",
    ]


def test_tests_are_cut_at_stops_deduplicated_and_must_call_the_entry_point():
    response = "[1]) == False\nassert below_zero([1])==False\nassert True\nassert len([1]) == 1\n\n# Tests for other\nassert below_zero([-5]) is True"
    tests = extract_tests(response, style="completion", lead="assert below_zero(", entry_point="below_zero")
    assert tests == ["assert below_zero([1]) == False"]


def test_chat_tests_with_setup_and_test_functions():
    reply = '''Here are some tests:

```python
from solution import below_zero
import math

ops = [1, 2, -4]
other = [7]

assert below_zero(ops) is True

def test_empty():
    empty = []
    assert not below_zero(empty)
    assert below_zero(
        [-1],
    )

def test_with_arg(x):
    assert below_zero(x)

assert math.isclose(float(below_zero([1])), 0.0)
```
'''
    tests = extract_tests(reply, style="chat", entry_point="below_zero")
    assert tests == [
        "ops = [1, 2, -4]\nassert below_zero(ops) is True",
        "empty = []\nassert not below_zero(empty)",
        "assert below_zero(\n    [-1],\n)",
        "import math\nassert math.isclose(float(below_zero([1])), 0.0)",
    ]
    namespace: dict = {}
    exec(HE_PROMPT + "    return any(sum(operations[:i + 1]) < 0 for i in range(len(operations)))\n", namespace)
    for test in tests:
        exec(test, dict(namespace))  # each snippet runs on its own


def test_a_setup_chain_is_followed_transitively():
    source = "a = 2\nb = a * 3\nc = 99\nassert f(b) == 6\n"
    assert extract_tests(source, style="chat", entry_point="f") == ["a = 2\nb = a * 3\nassert f(b) == 6"]


def test_collect_tests_round_robin_dedup_and_cap():
    per_generation = [["assert f(1) == 1", "assert f(2) == 2", "assert f(3) == 3"], ["assert f(1)==1", "assert f(4) == 4"], []]
    chosen, duplicates, over_cap = collect_tests(per_generation, cap=2)
    assert chosen == [(0, "assert f(1) == 1"), (0, "assert f(2) == 2")]
    assert (duplicates, over_cap) == (1, 2)
    chosen, duplicates, over_cap = collect_tests(per_generation, cap=10)
    assert [g for g, _ in chosen] == [0, 0, 1, 0]
    assert (duplicates, over_cap) == (1, 0)
