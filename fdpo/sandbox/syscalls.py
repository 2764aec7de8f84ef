"""The Linux calls the sandbox makes beyond Python 3.11's ``os``, and the fork-per-test loop: compiled or not.

``_syscalls`` (compiled from ``_syscalls.c`` when fdpo is installed) is used
when it imports, and ``_syscalls_ctypes`` otherwise, or when the environment
sets ``FDPO_SANDBOX_CTYPES=1`` (``pool`` passes it to the workers; tests use it
to run the sandbox both ways). Both offer the same calls; only the compiled one
has ``run_tests``, the loop that forks a candidate's tests (``runner`` runs it
in Python otherwise). The compiled one is the faster: it maps four libraries
fewer into every fork, and the loop writes no Python objects between tests
(docs/execute.md, "Speed"). Does not cover when each call is made (see
``isolation``, ``runner``, ``zygote``). Standard library only.
"""

from __future__ import annotations

import os

#: Set to "1" to use ctypes even where the compiled module is built.
FORCE_CTYPES = "FDPO_SANDBOX_CTYPES"

if os.environ.get(FORCE_CTYPES) == "1":
    _impl = None
else:
    try:
        from fdpo.sandbox import _syscalls as _impl
    except ImportError:
        _impl = None
COMPILED = _impl is not None
if _impl is None:
    from fdpo.sandbox import _syscalls_ctypes as _impl

fork, prctl, setrlimit, unshare = _impl.fork, _impl.prctl, _impl.setrlimit, _impl.unshare
mount, umount2, mount_setattr, clear_capabilities = _impl.mount, _impl.umount2, _impl.mount_setattr, \
    _impl.clear_capabilities
map_shared, unmap, malloc_trim, poll_in = _impl.map_shared, _impl.unmap, _impl.malloc_trim, _impl.poll_in
#: The compiled fork-per-test loop (see ``_syscalls.c``), or None.
run_tests = getattr(_impl, "run_tests", None)
