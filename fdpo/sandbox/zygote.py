"""A sandbox worker process: isolate itself once, then run candidate jobs for ``fdpo``.

Started by ``pool`` as a bare interpreter (``python -I -S``, only the standard
library imported) so that forking it is cheap. It enters its namespaces, becomes
the init of its own PID namespace (the process ``fdpo`` started stays outside
and only waits), sets up the private filesystem, imports the modules generated
code uses most (so a candidate's ``from typing import List`` costs nothing),
freezes the heap for copy-on-write, says ``ready`` with a description of the
isolation that holds, then serves jobs from its stdin until that closes.
Does not cover one job's supervision (see ``supervisor``) or the ``fdpo`` side
(see ``pool``).
"""

from __future__ import annotations

import gc
import os
import signal
import sys

from fdpo.sandbox import isolation, processes, runner, supervisor, syscalls, wire

#: Imported before any candidate: common in generated code, and cheap to share by fork.
PRELOAD = ("typing", "math", "re", "collections", "itertools", "functools", "string", "operator",
           "fdpo.sandbox.compare")
#: Preloaded only where candidates cannot import from the interpreter themselves (its directory is closed
#: to the sandbox uid): few candidates import them, and their libraries would add mappings to every fork.
PRELOAD_IF_CLOSED = ("heapq", "bisect")


def main() -> None:
    slot, namespaces, host_tmp, tmp_mb = int(sys.argv[1]), sys.argv[2] == "1", sys.argv[3], int(sys.argv[4])
    needed = sys.argv[5].split(os.pathsep)  # directories the candidates' interpreter reads
    # ... and what this interpreter imports from: a private /tmp must not hide a project or venv kept there.
    package = os.path.dirname(os.path.dirname(os.path.abspath(isolation.__file__)))
    needed += [package, sys.prefix, sys.exec_prefix, os.path.dirname(sys.executable), *sys.path]
    if sys.argv[6]:
        _pin(int(sys.argv[6]))
    job_in, res_out = os.dup(0), os.dup(1)
    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, 0)
    os.dup2(devnull, 1)
    outer_namespace = processes.pid_namespace()
    uid = isolation.sandbox_uid(slot)  # decided outside: inside a user namespace everyone is root
    try:
        names, via_userns = isolation.enter(namespaces)
    except OSError as exc:
        wire.send(res_out, ("failed", f"could not enter namespaces: {exc}"))
        return
    if "pid" in names:
        _become_init(job_in, res_out)
    measures = isolation.private_filesystem(tmp_mb, needed) if "mount" in names else []
    in_namespace = "pid" in names and processes.confirm_confined(outer_namespace, isolation.SANDBOX_UID_BASE)
    sandbox = supervisor.Sandbox(
        uid=uid,
        sweep="namespace" if in_namespace else ("uid" if uid is not None else "tree"),
        outer_namespace=outer_namespace,
        limit_processes=uid is not None or via_userns,
        tmp_root=_tmp_root(host_tmp, any(m.split(" (")[0] == "private /tmp" for m in measures)),
        job_in=job_in,
    )
    isolation.prctl(isolation.PR_SET_CHILD_SUBREAPER, 1)
    isolation.prctl(isolation.PR_SET_DUMPABLE, 0)  # no ptrace, no /proc/PID/fd access from candidates
    runner.prepare_worker(sandbox.workdir)
    hidden = set()
    if uid is not None and not any(m.endswith("but for the interpreter") for m in measures):
        hidden = {a for a in map(isolation.closed_ancestor, needed) if a}
    for name in PRELOAD + (PRELOAD_IF_CLOSED if hidden else ()):
        __import__(name)
    _warm_up()
    _settle()
    if hidden:
        measures.append(f"{', '.join(sorted(hidden))} closed to the sandbox uid: only preloaded modules import")
    wire.send(res_out, ("ready", _describe(names, via_userns, measures, uid)))
    _serve(sandbox, job_in, res_out)
    os._exit(0)  # nothing left to flush or free: skip the interpreter's shutdown, so fdpo's close is quick


def _pin(cpu: int) -> None:
    """Run on ``cpu`` only, with every process this worker starts (see ``pool.worker_cpus``)."""
    try:
        os.sched_setaffinity(0, {cpu})
    except OSError:  # gone offline meanwhile: then anywhere, as unpinned
        pass


def _warm_up() -> None:
    """Use the compiler, the board and a test's code here, so no candidate or test process pays (and copies)
    their first use."""
    runner.warm_up()
    namespace: dict = {}
    exec(compile("def f(x: int) -> int:\n    return x + 1\nassert f(1) == 2\n", "<warm-up>", "exec"), namespace)
    board = supervisor.Board(1)
    board.put(0, "pass", 0.0, "")
    board.get(0)
    board.close()


def _settle() -> None:
    """Free what start-up left behind, then freeze the heap: every fork copies the page table of what stays."""
    gc.collect()
    syscalls.malloc_trim()  # glibc keeps freed pages of its heap mapped until asked
    gc.freeze()


def _become_init(job_in: int, res_out: int) -> None:
    """Fork the PID namespace's init; this process stays outside, waits for it and mirrors its end."""
    pid = os.fork()
    if pid == 0:
        isolation.prctl(isolation.PR_SET_PDEATHSIG, signal.SIGKILL)
        return
    os.close(job_in)
    os.close(res_out)
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, signal.SIG_IGN)
    status = os.waitpid(pid, 0)[1]
    os._exit(os.waitstatus_to_exitcode(status) & 0xFF)


def _tmp_root(host_tmp: str, private: bool) -> str:
    """Where candidates' directories go: the private /tmp, or the host directory fdpo named (and removes)."""
    path = ("/tmp/fdpo" if not os.path.exists("/tmp/fdpo") else "/tmp/fdpo-jobs") if private else host_tmp
    os.mkdir(path, 0o711)  # the sandbox uid may pass through to its own directory, not list others
    return path


def _describe(names: list[str], via_userns: bool, measures: list[str], uid: int | None) -> str:
    parts = []
    if names:
        parts.append(", ".join(names) + " namespaces" + (" (through a user namespace)" if via_userns else ""))
    else:
        parts.append("no namespaces")
    parts += measures
    parts.append(f"uid {uid}" if uid is not None else "the caller's uid")
    parts.append("compiled test loop" if syscalls.COMPILED else "test loop in Python (calls through ctypes)")
    return "; ".join(parts)


def _serve(sandbox: supervisor.Sandbox, job_in: int, res_out: int) -> None:
    while True:
        try:
            message = wire.receive(job_in)
        except OSError:
            return
        if message is None:
            return
        job_id, code, tests, timeouts, limits = message
        try:
            result = ("done", job_id, *supervisor.run_job(sandbox, code, tests, timeouts, limits))
        except supervisor.Orphaned:
            return
        except Exception as exc:  # noqa: BLE001 - a worker bug must reach fdpo, not vanish
            result = ("fault", job_id, f"{type(exc).__name__}: {exc}")
        try:
            wire.send(res_out, result)
        except OSError:
            return
