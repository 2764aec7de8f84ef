"""The sandbox's Linux calls through ctypes: what ``_syscalls.c`` compiles, for an install without it.

Same names, arguments and errors as the compiled module (``OSError(errno,
"<call>: <strerror>")``), minus ``run_tests``: without it the fork-per-test
loop runs in Python (``runner``). A worker that imports this module maps
ctypes' and libffi's libraries (and select's, for ``poll_in``) into every
process a test forks from, which the compiled module spares. Does not cover
which calls the sandbox makes when (see ``isolation``, ``runner``). Standard
library only: it runs in the worker.
"""

from __future__ import annotations

import ctypes
import os
import select

_libc = ctypes.CDLL(None, use_errno=True)
#: libc's fork called with the GIL held, none of CPython's fork bookkeeping (see ``runner.plain_fork``).
_fork = ctypes.PyDLL(None).fork
# Argument types declared: a candidate process calls these before running any code, and each Python object
# a call makes or touches there costs that process a copied page.
_prctl = _libc.prctl
_prctl.argtypes = (ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong)
_prctl.restype = ctypes.c_int
_mmap, _munmap = _libc.mmap, _libc.munmap
_mmap.restype, _mmap.argtypes = ctypes.c_void_p, (ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int,
                                                  ctypes.c_int, ctypes.c_long)
_munmap.argtypes = (ctypes.c_void_p, ctypes.c_size_t)
_as_view = ctypes.pythonapi.PyMemoryView_FromMemory
_as_view.restype, _as_view.argtypes = ctypes.py_object, (ctypes.c_void_p, ctypes.c_ssize_t, ctypes.c_int)
_PROT_RW, _MAP_SHARED_ANONYMOUS, _PYBUF_WRITE = 0x1 | 0x2, 0x01 | 0x20, 0x200
_SYS_MOUNT_SETATTR, _AT_FDCWD, _CAP_VERSION_3 = 442, -100, 0x20080522


class _RLimit(ctypes.Structure):
    _fields_ = [("soft", ctypes.c_ulong), ("hard", ctypes.c_ulong)]  # rlim_t is an unsigned long on Linux


class _MountAttr(ctypes.Structure):
    _fields_ = [("attr_set", ctypes.c_uint64), ("attr_clr", ctypes.c_uint64),
                ("propagation", ctypes.c_uint64), ("userns_fd", ctypes.c_uint64)]


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32), ("inheritable", ctypes.c_uint32)]


_setrlimit = _libc.setrlimit
_setrlimit.argtypes = (ctypes.c_int, ctypes.POINTER(_RLimit))
_setrlimit.restype = ctypes.c_int


def _check(result: int, what: str) -> None:
    if result != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def fork() -> int:
    pid = _fork()
    return pid if pid >= 0 else os.fork()  # os.fork raises the reason (say the process limit)


def prctl(option: int, arg: int = 0) -> None:
    _check(_prctl(option, arg, 0, 0, 0), f"prctl({option})")


def setrlimit(resource: int, soft: int, hard: int) -> None:
    _check(_setrlimit(resource, _RLimit(soft, hard)), f"setrlimit({resource})")


def unshare(flags: int) -> None:
    _check(_libc.unshare(flags), "unshare")


def mount(source: str | None, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    enc = (lambda s: s.encode() if s is not None else None)
    _check(_libc.mount(enc(source), enc(target), enc(fstype), ctypes.c_ulong(flags), enc(data)), f"mount {target}")


def umount2(target: str, flags: int) -> None:
    _check(_libc.umount2(target.encode(), flags), f"umount {target}")


def mount_setattr(path: str, flags: int, attr_set: int) -> None:
    attr = _MountAttr(attr_set=attr_set)
    result = _libc.syscall(_SYS_MOUNT_SETATTR, _AT_FDCWD, path.encode(), flags, ctypes.byref(attr),
                           ctypes.sizeof(attr))
    _check(result, f"mount_setattr {path}")


def clear_capabilities() -> None:
    header, data = _CapHeader(_CAP_VERSION_3, 0), (_CapData * 2)()
    _check(_libc.capset(ctypes.byref(header), ctypes.byref(data)), "capset")


def map_shared(size: int) -> tuple[memoryview, int]:
    address = _mmap(None, size, _PROT_RW, _MAP_SHARED_ANONYMOUS, -1, 0)
    if address in (None, ctypes.c_void_p(-1).value):
        _check(-1, "mmap")
    return _as_view(address, size, _PYBUF_WRITE), address


def unmap(address: int, size: int) -> None:
    _check(_munmap(address, size), "munmap")


def malloc_trim() -> None:
    try:
        _libc.malloc_trim(0)
    except AttributeError:  # pragma: no cover - another C library
        pass


def poll_in(fds: tuple[int, ...], timeout: float) -> list[int]:
    poller = select.poll()
    for fd in fds:
        poller.register(fd, select.POLLIN)
    return [fd for fd, _ in poller.poll(timeout if timeout >= 0 else None)]
