"""Output probes: built from real tests, run in the real sandbox, and carried into `execution.probes`."""

from __future__ import annotations

import orjson
from typer.testing import CliRunner

from fdpo.cli import app
from fdpo.execution.probes import probe_code
from fdpo.sandbox import run_candidate


def probe_digests(code: str, tests: list[str]) -> list[str | None]:
    probes = [probe_code(t) for t in tests]
    result = run_candidate(code, [p for p in probes if p])
    assert result.load == "ok"
    return [o.reason if o.status == "pass" else "!" + o.status for o in result.outcomes]


def test_probe_records_values_not_verdicts():
    tests = ["assert f(2) == 5", "assert f(3) == 4\nassert f(0) == 1"]
    right = probe_digests("def f(x):\n    return x + 1\n", tests)
    # The same outputs written another way digest alike; the expected value (wrong in test 0) plays no part.
    again = probe_digests("def f(x):\n    y = x\n    return 1 + y\n", tests)
    other = probe_digests("def f(x):\n    return x + 2\n", tests)
    assert all(right) and right == again
    assert right[0] != other[0] and right[1] != other[1]


def test_canonical_values_merge_what_tests_cannot_tell_apart():
    tests = ["assert f(1) == 2", "assert g() == {1, 2}", "assert h() == True"]
    a = probe_digests("def f(x): return 2\ndef g(): return {2, 1}\ndef h(): return 1\n", tests)
    b = probe_digests("def f(x): return 2.0000000001\ndef g(): return {1, 2}\ndef h(): return True\n", tests)
    c = probe_digests("def f(x): return [2]\ndef g(): return [1, 2]\ndef h(): return 'yes'\n", tests)
    assert a == b
    assert all(x != y for x, y in zip(a, c))


def test_exceptions_are_behaviour_too():
    tests = ["assert f(0) == 0"]
    raises = probe_digests("def f(x):\n    return 1 / x\n", tests)
    returns = probe_digests("def f(x):\n    return 0\n", tests)
    raises_other = probe_digests("def f(x):\n    raise ValueError\n", tests)
    assert raises[0] and len({raises[0], returns[0], raises_other[0]}) == 3


def test_asserts_inside_a_check_function_are_probed():
    test = "def check(candidate):\n    assert candidate(1) == 9\n    assert not candidate(2)\ncheck(f)\n"
    assert probe_code(test) is not None
    one = probe_digests("def f(x):\n    return x\n", [test])
    two = probe_digests("def f(x):\n    return x * 1\n", [test])
    three = probe_digests("def f(x):\n    return x - 1\n", [test])
    assert one == two != three


def test_no_probe_without_an_assert_or_when_it_does_not_parse():
    assert probe_code("print(f(1))") is None
    assert probe_code("assert f(1 == ") is None


def test_execute_writes_probes_aligned_with_the_tests(tmp_path):
    record = {
        "id": "p",
        "candidates": [{"id": "c0", "code": "def f(x):\n    return x + 1\n"},
                       {"id": "c1", "code": "def f(x):\n    return x + 1.0\n"},
                       {"id": "c2", "code": "def f(x):\n    return x\n"}],
        "tests": [{"id": "t0", "code": "assert f(1) == 3"}, {"id": "t1", "code": "print(f(1))"},
                  {"id": "t2", "code": "assert f(1) == 3"}],
    }
    path = tmp_path / "in.jsonl"
    path.write_bytes(orjson.dumps(record) + b"\n")
    result = CliRunner().invoke(app, ["execute", str(path)])
    assert result.exit_code == 0, result.stderr
    execution = orjson.loads(result.stdout)["execution"]
    probes = execution["probes"]
    assert execution["outcomes"][0] == ["fail", "pass", "fail"]
    assert probes[0][1] is None and probes[0][0] == probes[0][2]  # no assert: no probe; equal tests: equal probes
    assert probes[0][0] == probes[1][0] != probes[2][0]
    result = CliRunner().invoke(app, ["execute", str(path), "--no-probes"])
    assert "probes" not in orjson.loads(result.stdout)["execution"]
