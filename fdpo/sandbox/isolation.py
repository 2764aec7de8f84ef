"""Operating-system isolation for a sandbox worker: namespaces, mounts, privileges.

Covers the Linux calls a worker makes once at start (``enter``: PID, network,
mount, IPC and UTS namespaces, directly as root or through a user namespace
otherwise; ``private_filesystem``: read-only root, private ``/tmp``, a ``/proc``
of its own) and the ones each candidate process makes before running untrusted
code (``drop_privileges``, ``prctl``, ``setrlimit``). Every measure is
attempted on its own and what holds is reported as text, so a machine that
refuses one still runs. Python 3.11 has no ``os.unshare``, so the calls go
through ``syscalls``; so do resource limits, which spares every fork the
``resource`` module's library. Does not cover which limits apply or process
supervision (see ``runner`` and ``zygote``). Must import only the standard
library: it runs in the worker.
"""

from __future__ import annotations

import os

from fdpo.sandbox import syscalls

CLONE_NEWNS = 0x00020000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000
_NAMESPACES = {"pid": CLONE_NEWPID, "net": CLONE_NEWNET, "mount": CLONE_NEWNS, "ipc": CLONE_NEWIPC, "uts": CLONE_NEWUTS}

MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_BIND, MS_REC, MS_PRIVATE = 0x2, 0x4, 0x8, 0x1000, 0x4000, 1 << 18
MNT_DETACH = 2
AT_RECURSIVE, MOUNT_ATTR_RDONLY = 0x8000, 0x1
PR_SET_PDEATHSIG, PR_SET_DUMPABLE, PR_CAPBSET_DROP = 1, 4, 24
PR_SET_CHILD_SUBREAPER, PR_SET_NO_NEW_PRIVS = 36, 38

#: World-writable places that get a private, size-limited tmpfs in the mount namespace.
PRIVATE_TMP = ("/tmp", "/var/tmp", "/dev/shm")
#: First uid of the unprivileged users candidates run as (root only); far from real users.
SANDBOX_UID_BASE = 1_800_000_000

#: ``prctl(option, arg=0)`` and ``setrlimit(resource, soft, hard)``, raising OSError.
prctl, setrlimit = syscalls.prctl, syscalls.setrlimit
unshare, mount = syscalls.unshare, syscalls.mount
#: The lines of ``/proc/self/limits`` come in the kernel's order of resource numbers (``RLIMIT_*``).
_LIMIT_LINES = {"CPU": "Max cpu time ", "FSIZE": "Max file size ", "CORE": "Max core file size ",
                "NPROC": "Max processes ", "NOFILE": "Max open files ", "AS": "Max address space "}


def rlimit_numbers() -> dict[str, int]:
    """``{"CPU": resource.RLIMIT_CPU, "AS": ..., ...}`` for this kernel, without loading ``resource``."""
    with open("/proc/self/limits") as f:
        lines = f.read().splitlines()[1:]
    numbers = {name: i for name, label in _LIMIT_LINES.items() for i, line in enumerate(lines)
               if line.startswith(label)}
    if len(numbers) != len(_LIMIT_LINES):
        raise OSError(f"unexpected /proc/self/limits: {lines!r}")
    return numbers


def _read_only_tree(path: str) -> None:
    syscalls.mount_setattr(path, AT_RECURSIVE, MOUNT_ATTR_RDONLY)


def enter(namespaces: bool) -> tuple[list[str], bool]:
    """Unshare the namespaces this process may create: (their names, via a user namespace?).

    The PID namespace takes effect for children, so the caller forks next and
    the child is the namespace's init. As root the namespaces are created
    directly; otherwise a user namespace that maps the caller's uid to root
    inside makes them possible where the kernel allows unprivileged ones.
    """
    if not namespaces:
        return [], False
    flags = 0
    for bit in _NAMESPACES.values():
        flags |= bit
    if os.geteuid() == 0:
        try:
            unshare(flags)
            return list(_NAMESPACES), False
        except OSError:
            pass  # e.g. a container that forbids it: try through a user namespace
    uid, gid = os.geteuid(), os.getegid()
    try:
        unshare(flags | CLONE_NEWUSER)
    except OSError:
        return [], False
    _write("/proc/self/setgroups", "deny")
    # Root keeps every uid (so it can still switch to the sandbox uid); others map themselves to 0.
    _write("/proc/self/uid_map", "0 0 4294967295" if uid == 0 else f"0 {uid} 1")
    _write("/proc/self/gid_map", "0 0 4294967295" if uid == 0 else f"0 {gid} 1")
    return list(_NAMESPACES), True


def _write(path: str, text: str) -> None:
    try:
        with open(path, "w") as f:
            f.write(text)
    except PermissionError:
        if not path.endswith("setgroups"):  # absent/locked setgroups is fine when root
            raise


def private_filesystem(tmp_mb: int, needed: list[str]) -> list[str]:
    """In a fresh mount namespace (run by the PID namespace's init): what could be set up.

    Mount events stop propagating to the host, the whole tree becomes read-only,
    ``/proc`` shows only this namespace's processes, the world-writable
    directories get private tmpfs mounts that vanish with the namespace (but
    for the ``needed`` paths under them, which stay visible read-only: the
    project, a venv or an interpreter may live in ``/tmp``), and the ``needed``
    directories (the interpreter's) are made reachable for an unprivileged uid
    when a private parent such as ``/root`` hides them.
    """
    done = []
    try:
        mount("none", "/", None, MS_REC | MS_PRIVATE)
    except OSError:
        return done  # never mount anything that could propagate to the host
    try:
        mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
        done.append("own /proc")
    except OSError:
        pass
    try:
        _read_only_tree("/")
        done.append("read-only filesystem")
    except OSError:
        pass
    held = _hold(needed)
    try:
        for path in PRIVATE_TMP:
            if os.path.isdir(path) and not os.path.islink(path):
                try:
                    mount("tmpfs", path, "tmpfs", MS_NOSUID | MS_NODEV, f"size={tmp_mb}m,mode=1777")
                except OSError:
                    continue
                kept = _keep_visible({p: fd for p, fd in held.items() if p.startswith(path + "/")})
                done.append(f"private {path}" + (f" (but for {', '.join(kept)}, read-only)" if kept else ""))
    finally:
        for fd in held.values():
            os.close(fd)
    if any(m.startswith("private /tmp") for m in done):
        done += _expose(needed)
    return done


def _hold(needed: list[str]) -> dict[str, int]:
    """An ``O_PATH`` descriptor for each outermost needed path under a world-writable directory.

    Taken before the private tmpfs covers that directory: the descriptor still
    reaches the original (through ``/proc/self/fd``) to bind it back.
    """
    tops = tuple(t + "/" for t in PRIVATE_TMP)
    paths = sorted({os.path.realpath(p) for p in needed if p and os.path.exists(p)})
    held: dict[str, int] = {}
    for path in paths:
        if not path.startswith(tops) or any(path.startswith(kept + "/") for kept in held):
            continue  # not hidden by a private tmpfs, or inside a path already kept
        try:
            held[path] = os.open(path, os.O_PATH | os.O_CLOEXEC)
        except OSError:
            pass
    return held


def _keep_visible(held: dict[str, int]) -> list[str]:
    """Bind each held path back at its place in the fresh tmpfs, read-only; the paths that made it."""
    kept = []
    for path, fd in held.items():
        try:
            if os.path.isdir(f"/proc/self/fd/{fd}"):
                os.makedirs(path, 0o755, exist_ok=True)
            else:
                os.makedirs(os.path.dirname(path), 0o755, exist_ok=True)
                os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o644))
            mount(f"/proc/self/fd/{fd}", path, None, MS_BIND | MS_REC)
        except OSError:
            continue
        try:
            _read_only_tree(path)
        except OSError:
            try:  # never hand candidates a writable window onto the host
                syscalls.umount2(path, MNT_DETACH)
            except OSError:
                pass
            continue
        kept.append(path)
    return kept


def closed_ancestor(path: str) -> str | None:
    """The first directory on the way to ``path`` that other users may not enter, if any."""
    parts = path.strip("/").split("/")
    for i in range(1, len(parts) + 1):
        ancestor = "/" + "/".join(parts[:i])
        try:
            if not os.stat(ancestor).st_mode & 0o001:
                return ancestor
        except OSError:
            return None
    return None


def _expose(needed: list[str]) -> list[str]:
    """Cover each closed directory with an empty tmpfs and bind back, read-only, only the needed paths in it.

    What else the closed directory held (say ``/root/.ssh``) stays hidden.
    """
    closed: dict[str, list[str]] = {}
    for path in sorted({os.path.realpath(p) for p in needed if os.path.isdir(p)}):
        ancestor = closed_ancestor(path)
        if ancestor is not None:
            closed.setdefault(ancestor, []).append(path)
    done = []
    for ancestor, paths in closed.items():
        staged = []
        try:
            for k, path in enumerate(paths):
                stage = f"/tmp/.fdpo-expose-{len(done)}-{k}"
                os.mkdir(stage, 0o700)
                mount(path, stage, None, MS_BIND | MS_REC)
                staged.append((stage, path))
            mount("tmpfs", ancestor, "tmpfs", MS_NOSUID | MS_NODEV, "size=1m,mode=755")
            for stage, path in staged:
                os.makedirs(path, 0o755, exist_ok=True)
                mount(stage, path, None, MS_BIND | MS_REC)
                _read_only_tree(path)
                syscalls.umount2(stage, MNT_DETACH)
                os.rmdir(stage)
            done.append(f"{ancestor} hidden but for the interpreter")
        except OSError:
            pass
    return done


def drop_privileges(uid: int | None) -> None:
    """Make the calling process unprivileged for good (candidate side, before its code runs).

    With a sandbox ``uid`` (the worker runs as root) the process becomes that
    user with no groups; in every case it loses all capabilities, including the
    bounding set (so an ``exec`` cannot regain them). no_new_privs (setuid
    binaries do not elevate) is the worker's, set once (``runner.prepare_worker``):
    a fork inherits it and cannot clear it.
    """
    if uid is not None:
        _setgroups(())
        _setresgid(uid, uid, uid)
        _setresuid(uid, uid, uid)
    else:
        _drop_capabilities()


_setgroups, _setresgid, _setresuid = os.setgroups, os.setresgid, os.setresuid  # bound once (see runner._lock_down)


def _drop_capabilities() -> None:
    try:
        with open("/proc/sys/kernel/cap_last_cap") as f:
            last = int(f.read())
    except OSError:
        last = 40
    for cap in range(last + 1):
        try:
            prctl(PR_CAPBSET_DROP, cap)
        except OSError:
            break  # no CAP_SETPCAP: nothing in the bounding set is ours to drop
    syscalls.clear_capabilities()


def sandbox_uid(slot: int) -> int | None:
    """The dedicated uid for worker ``slot`` when running as root, else None."""
    return SANDBOX_UID_BASE + slot if os.geteuid() == 0 else None
