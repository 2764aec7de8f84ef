"""The code that runs inside the sandbox: calls the candidate on benchmark inputs and judges its outputs.

Self-contained on purpose (the standard library and the sandbox's own
``fdpo.sandbox.testcode``, which every worker preloads): ``programs`` inlines
this file's source into every test, where it runs in a namespace of its own so
it cannot clash with the candidate's names. Covers EvalPlus's output oracle
(its special cases, then equality or floats within ``atol``), per-input time
limits, LiveCodeBench's call-based and stdin/stdout judging, and measuring the
canonical solution's outputs and times. Does not decide limits or build
programs (see ``expected``, ``programs``).
"""

import base64
import builtins
import contextlib
import copy
import gc
import io
import json
import math
import os
import pickle
import signal
import sys
import time
from decimal import Decimal, InvalidOperation

# EvalPlus's special oracles (evalplus/eval/_special_oracle.py), by entry point.
NOT_NONE_TASKS = ("check_str", "text_match_three", "text_starta_endb")
SET_EQ_TASKS = ("similar_elements", "find_char_long", "common_in_nested_lists", "extract_singly", "larg_nnum",
                "intersection_array", "find_dissimilar", "Diff")


class OverTimeLimit(BaseException):
    """A BaseException so that a candidate's ``except Exception`` cannot swallow it."""


class _Discard(io.TextIOBase):
    def writable(self):
        return True

    def write(self, text):
        return len(text)


# The wall-clock bound of one call: a multiple of its CPU limit, for code that sleeps or waits.
WALL_FACTOR = 3.0


@contextlib.contextmanager
def time_limit(seconds):
    """At most ``seconds`` of CPU time (and ``WALL_FACTOR`` × that + 1 s of wall time) for the block.

    CPU time, unlike wall time, barely grows when other processes share the
    cores, so a loaded machine does not turn slow-but-right answers into timeouts.
    """
    def over_cpu(signum, frame):
        raise OverTimeLimit(f"over the {seconds:.2f}s CPU time limit")

    def over_wall(signum, frame):
        raise OverTimeLimit(f"over the {WALL_FACTOR * seconds + 1:.2f}s wall-clock limit")

    previous = signal.signal(signal.SIGPROF, over_cpu), signal.signal(signal.SIGALRM, over_wall)
    signal.setitimer(signal.ITIMER_PROF, seconds)
    signal.setitimer(signal.ITIMER_REAL, WALL_FACTOR * seconds + 1)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_PROF, 0)
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGPROF, previous[0])
        signal.signal(signal.SIGALRM, previous[1])


@contextlib.contextmanager
def quiet():
    sink = _Discard()
    with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
        yield


def short(value, limit=200):
    text = repr(value)
    return text if len(text) <= limit else text[: limit // 2] + " … " + text[-limit // 2:]


# --- EvalPlus ----------------------------------------------------------------

def poly(xs, x):
    return sum(coeff * math.pow(x, i) for i, coeff in enumerate(xs))


def surface_area(base_edge, height):
    slant = math.sqrt((base_edge / 2) ** 2 + height**2)
    return round(base_edge**2 + 4 * (base_edge * slant) / 2)


def digit_distance(num1, num2):
    a, b = str(num1), str(num2)
    width = max(len(a), len(b))
    return sum(abs(int(x) - int(y)) for x, y in zip(a.zfill(width), b.zfill(width)))


def special_match(oracle, entry_point, inp, out, exp, atol):
    """EvalPlus's special oracles (evalplus/eval/__init__.py): True/False, or None where none applies."""
    if oracle == "humaneval" and entry_point == "find_zero":
        return abs(poly(*inp, out)) <= atol
    if oracle != "mbpp":
        return None
    if entry_point == "are_equivalent":
        return True
    if entry_point == "sum_div":
        return out == exp or out == 0
    if entry_point == "surface_Area":
        return out == exp or abs(out - surface_area(*inp)) <= atol
    if entry_point == "digit_distance_nums":
        return out == exp or out == digit_distance(*inp)
    if entry_point in SET_EQ_TASKS:
        return set(out) == set(exp)
    if entry_point in NOT_NONE_TASKS:
        return out == exp if isinstance(out, bool) else exp == (out is not None)
    return None


def matches(oracle, entry_point, inp, out, exp, atol):
    """EvalPlus's verdict for one output: its special oracle, else equality, else floats within ``atol``.

    The float rule (EvalPlus: ``atol`` 1e-6 for float outputs, same type and
    length, numpy's ``allclose``) is the sandbox's ``assert_matches``, which
    needs no numpy.
    """
    # lazy: this source is exec'd inside the sandbox for every test; only the io checks need this module
    from fdpo.sandbox.testcode import assert_matches

    special = special_match(oracle, entry_point, inp, out, exp, atol)
    if special or (oracle == "humaneval" and entry_point == "find_zero"):
        return bool(special)
    try:
        assert_matches(out, exp, atol)
    except AssertionError:
        return False
    return True


def canonical_output(fn, inp, entry_point):
    """What the canonical solution returns for ``inp`` (as EvalPlus records it) and its CPU seconds."""
    args = copy.deepcopy(inp)
    with quiet():
        start = time.process_time()
        out = fn(*args)
        seconds = time.process_time() - start
    # EvalPlus records only "not None" for tasks whose outputs (re.Match) cannot be stored.
    return (out is not None if entry_point in NOT_NONE_TASKS else out), seconds


def reference(job):
    """The canonical solution, loaded in a namespace of its own (for splits with no stored outputs)."""
    namespace = {"__name__": "fdpo_reference"}
    exec(job["reference"], namespace)
    return namespace[job["entry_point"]]


def check_io(fn, job):
    """Call ``fn`` on every input; raise AssertionError at the first wrong output.

    Expected outputs come with the job, or, where they were too big to store,
    from the canonical solution run here on the same input.
    """
    label, entry_point, expected = job["label"], job["entry_point"], job["expected"]
    ref = reference(job) if expected is None else None
    for i, (inp, limit) in enumerate(zip(job["inputs"], job["limits"])):
        if ref is not None:
            exp = canonical_output(ref, inp, entry_point)[0]
            # A huge expected output must not slow the candidate's garbage collection; refcounting
            # still frees it after the comparison.
            gc.freeze()
        else:
            exp = expected[i]
        args = copy.deepcopy(inp)
        with time_limit(limit), quiet():
            out = fn(*args)
        if not matches(job["oracle"], entry_point, inp, out, exp, job["atol"]):
            raise AssertionError(f"{label} input #{i}: {entry_point}{short(tuple(inp))} returned {short(out)}, "
                                 f"expected {short(exp)}")


MEASURE_OPEN, MEASURE_CLOSE = "<fdpo-measure {}>", "</fdpo-measure>"


def measure(fn, job):
    """The canonical solution's per-input seconds and outputs, printed (pickled, base64) to fd 1.

    The sandbox's filesystem is read-only, so the captured output is the way back.
    Outputs are dropped (``None``) once they pass ``job["keep_bytes"]`` pickled.
    """
    outputs, seconds, size = [], [], 0
    for inp in job["inputs"]:
        out, took = canonical_output(fn, inp, job["entry_point"])
        seconds.append(took)
        if outputs is not None:
            size += len(pickle.dumps(out, protocol=4))
            outputs = outputs if size <= job["keep_bytes"] else None
            if outputs is not None:
                outputs.append(out)
    blob = base64.b64encode(pickle.dumps({"outputs": outputs, "seconds": seconds}, protocol=4)).decode()
    data = ("\n" + MEASURE_OPEN.format(job["label"]) + blob + MEASURE_CLOSE + "\n").encode()
    while data:
        data = data[os.write(1, data):]


# --- LiveCodeBench -------------------------------------------------------------

# LiveCodeBench runs every program after these imports (lcb_runner/evaluation/testing_util.py).
LCB_PRELUDE = (
    "from string import *\nfrom re import *\nfrom datetime import *\nfrom collections import *\n"
    "from heapq import *\nfrom bisect import *\nfrom copy import *\nfrom math import *\nfrom random import *\n"
    "from statistics import *\nfrom itertools import *\nfrom functools import *\nfrom operator import *\n"
    "from io import *\nfrom sys import *\nfrom json import *\nfrom builtins import *\nfrom typing import *\n"
    "import string\nimport re\nimport datetime\nimport collections\nimport heapq\nimport bisect\nimport copy\n"
    "import math\nimport random\nimport statistics\nimport itertools\nimport functools\nimport operator\n"
    "import io\nimport sys\nimport json\nsys.setrecursionlimit(50000)\n"
)


def same_stdout(got, expected):
    """LiveCodeBench's rule: same number of stripped lines, each equal as text or as Decimals."""
    got_lines = [line.strip() for line in got.strip().split("\n")]
    exp_lines = [line.strip() for line in expected.strip().split("\n")]
    if len(got_lines) != len(exp_lines):
        return False
    for a, b in zip(got_lines, exp_lines):
        if a == b:
            continue
        try:
            if [Decimal(x) for x in a.split()] != [Decimal(x) for x in b.split()]:
                return False
        except InvalidOperation:
            return False
    return True


def lcb_method(namespace, name):
    if "Solution" in namespace:
        return getattr(namespace["Solution"](), name)
    return namespace[name]


def check_lcb_call(fn, job):
    for i, case in enumerate(job["cases"]):
        args = [json.loads(line) for line in case["input"].split("\n")]
        expected = json.loads(case["output"])
        with time_limit(job["limit"]), quiet():
            out = fn(*args)
        if isinstance(out, tuple):
            out = list(out)
        if out != expected:
            raise AssertionError(f"test #{i}: returned {short(out)}, expected {short(expected)}")


def _raise_exit(code=None):
    raise SystemExit(code)


def run_stdin_program(program, data, limit):
    """Run ``program`` as ``__main__`` with ``data`` on stdin; return what it printed.

    ``exit()`` / ``sys.exit()`` end the program, not the test, as they end a
    program under a judge (the sandbox otherwise makes them end the process).
    """
    stdin = io.TextIOWrapper(io.BytesIO(data.encode()), encoding="utf-8")
    raw_out = io.BytesIO()
    stdout = io.TextIOWrapper(raw_out, encoding="utf-8", write_through=True)

    def open_(file, *args, **kwargs):
        if file in (0, "/dev/stdin"):
            return io.TextIOWrapper(io.BytesIO(data.encode()), encoding="utf-8")
        return builtins.open(file, *args, **kwargs)

    namespace = {"__name__": "__main__", "__builtins__": builtins}
    saved = sys.stdin, sys.stdout, sys.exit, builtins.exit, builtins.quit
    sys.stdin, sys.stdout = stdin, stdout
    sys.exit = builtins.exit = builtins.quit = _raise_exit
    try:
        with time_limit(limit), contextlib.redirect_stderr(_Discard()):
            exec(LCB_PRELUDE, namespace)
            namespace["open"] = open_
            try:
                exec(program, namespace)
            except SystemExit:
                pass
    finally:
        stdout.flush()
        sys.stdin, sys.stdout, sys.exit, builtins.exit, builtins.quit = saved
    return raw_out.getvalue().decode("utf-8", errors="replace")


def check_lcb_stdin(program, job):
    for i, case in enumerate(job["cases"]):
        got = run_stdin_program(program, case["input"], job["limit"])
        if not same_stdout(got, case["output"]):
            raise AssertionError(f"test #{i}: printed {short(got)}, expected {short(case['output'])}")


# --- entry from a test ---------------------------------------------------------

def run(namespace, payload):
    """What a test calls: decode the job and run it against the candidate's namespace."""
    job = pickle.loads(base64.b64decode(payload))
    gc.freeze()  # the job's inputs and outputs are never garbage: keep collections from scanning them
    if job["mode"] == "lcb-stdin":
        return check_lcb_stdin(namespace["_fdpo_program"], job)
    if job["mode"] == "lcb-call":
        return check_lcb_call(lcb_method(namespace, job["entry_point"]), job)
    fn = namespace.get(job["entry_point"])
    if not callable(fn):
        raise NameError(f"the program defines no function {job['entry_point']!r}")
    return (measure if job["mode"] == "measure" else check_io)(fn, job)
