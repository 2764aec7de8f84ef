"""Killing and reaping whatever a candidate started, and removing its files.

Covers the three ways to find every process a candidate made, from strongest
to weakest: everything in the worker's PID namespace, everything owned by the
candidate's dedicated uid, or the descendants of a process found through
``/proc`` (with the worker as child subreaper, so a grandchild that called
``setsid`` is still a descendant). Also a ``rmtree`` that never follows links.
Does not decide when to kill (see ``supervisor`` and ``runner``). Standard
library only: it runs in the worker and the candidate processes.
"""

from __future__ import annotations

import os
import signal
import stat
import time

SIGKILL = signal.SIGKILL
# Bound at import, before any candidate code could rebind them in the os module.
_kill, _waitpid, _listdir = os.kill, os.waitpid, os.listdir


_confined = False


def pid_namespace() -> int:
    """Identity (inode) of this process's PID namespace."""
    return os.stat("/proc/self/ns/pid").st_ino


def confirm_confined(outer_namespace: int, sandbox_uid_base: int) -> bool:
    """Decide, from facts, whether ``kill(-1)`` here can reach nothing but the sandbox; remembered per process.

    True inside a PID namespace other than the one ``fdpo`` runs in, or as a
    dedicated sandbox uid. Inherited by forked children, which stay inside.
    """
    global _confined
    _confined = os.geteuid() >= sandbox_uid_base or pid_namespace() != outer_namespace
    return _confined


def confined() -> bool:
    return _confined


def kill_all_visible() -> bool:
    """``kill(-1, SIGKILL)``: every process this one may signal, except itself and the namespace's init.

    Refused unless ``confirm_confined`` said so in this process or an
    ancestor: run as root on the host, ``kill(-1)`` would end every process
    of the machine. Returns whether anything was there to kill.
    """
    if not _confined:
        raise RuntimeError("kill(-1) refused: this process is not confined to a sandbox")
    try:
        _kill(-1, SIGKILL)
        return True
    except OSError:
        return False


def kill_as_user(uid: int) -> None:
    """Kill every process of ``uid`` (from root, without a PID namespace), via a helper that becomes that uid."""
    pid = os.fork()
    if pid == 0:
        try:
            os.setresgid(uid, uid, uid)
            os.setresuid(uid, uid, uid)
            if os.geteuid() == uid and uid != 0:
                global _confined
                _confined = True
                # Zombies count as "killed" too, so never loop until nothing answers: a few rounds settle
                # any fork that raced the first one.
                for _ in range(3):
                    kill_all_visible()
                    time.sleep(0.001)
        finally:
            os._exit(0)
    os.waitpid(pid, 0)


def descendants(pid: int) -> list[int]:
    """Every live descendant of ``pid`` found through ``/proc/PID/task/TID/children``."""
    found, todo = [], [pid]
    while todo:
        parent = todo.pop()
        try:
            tids = _listdir(f"/proc/{parent}/task")
        except OSError:
            continue
        for tid in tids:
            try:
                with open(f"/proc/{parent}/task/{tid}/children") as f:
                    kids = [int(k) for k in f.read().split()]
            except OSError:
                continue
            found.extend(kids)
            todo.extend(kids)
    return found


def kill_descendants(pid: int, rounds: int = 20) -> None:
    """Stop, then kill, every descendant of ``pid``; repeated so that a forking process cannot outrun it."""
    for _ in range(rounds):
        pids = descendants(pid)
        if not pids:
            return
        for sig in (signal.SIGSTOP, SIGKILL):
            for p in pids:
                try:
                    _kill(p, sig)
                except OSError:
                    pass
        reap()


def reap(block_seconds: float = 0.0) -> dict[int, int]:
    """Collect finished children: {pid: wait status}. Waits up to ``block_seconds`` for all of them."""
    statuses, deadline = {}, time.monotonic() + block_seconds
    while True:
        try:
            pid, status = _waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return statuses
        if pid:
            statuses[pid] = status
            continue
        if time.monotonic() >= deadline:
            return statuses
        time.sleep(0.001)


def describe_status(status: int) -> str:
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        try:
            name = signal.Signals(sig).name
        except ValueError:
            name = str(sig)
        return f"killed by signal {name}"
    return f"exited with status {os.WEXITSTATUS(status)}"


def rmtree(path: str) -> None:
    """Remove ``path`` and everything below it without following symlinks; errors are ignored.

    Iterative, so a candidate's ten-thousand-deep directory chain cannot
    exhaust the worker's stack. An empty directory (most candidates leave
    theirs empty) goes with one ``rmdir``, not a walk.
    """
    try:
        os.rmdir(path)  # refuses anything but an empty directory, and never follows a link
        return
    except OSError:
        pass
    stack = [(path, False)]
    while stack:
        current, emptied = stack.pop()
        if emptied:
            _quiet(os.rmdir, current)
            continue
        try:
            st = os.lstat(current)
        except OSError:
            continue
        if not stat.S_ISDIR(st.st_mode):
            _quiet(os.unlink, current)
            continue
        if st.st_mode & stat.S_IRWXU != stat.S_IRWXU:
            _quiet(os.chmod, current, 0o700)
        stack.append((current, True))
        try:
            with os.scandir(current) as entries:
                stack.extend((entry.path, False) for entry in entries)
        except OSError:
            pass


def _quiet(fn, *args) -> None:
    try:
        fn(*args)
    except OSError:
        pass
