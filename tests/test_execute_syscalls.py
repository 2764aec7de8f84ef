"""The sandbox's Linux calls, compiled (``_syscalls.c``) and through ctypes: the same behaviour, errors included.

Each call is made for real, in this process or in a fork of it. ``run_tests``
(the compiled fork-per-test loop) is driven here directly on a real board; the
whole sandbox runs both ways in test_execute_hostile.py.
"""

from __future__ import annotations

import errno
import os
import resource
import shutil
import sys
import sysconfig
import time

import pytest

from fdpo.sandbox import _syscalls_ctypes, syscalls
from fdpo.sandbox.board import BLANK, PASS, Board, write
from fdpo.sandbox.isolation import AT_RECURSIVE, MNT_DETACH, MOUNT_ATTR_RDONLY, PR_SET_CHILD_SUBREAPER

try:
    from fdpo.sandbox import _syscalls as compiled
except ImportError:
    compiled = None


def test_the_compiled_calls_are_built():
    """``make setup`` (``pip install``) builds ``_syscalls``, with the C compiler Python was built with; without
    one fdpo installs all the same and makes the calls through ctypes, but these tests want both built."""
    cc = (sysconfig.get_config_var("CC") or "cc").split()[0]
    assert compiled is not None, f"fdpo.sandbox._syscalls is not built (C compiler {cc!r}: {shutil.which(cc)})"
    assert syscalls.COMPILED == (os.environ.get(syscalls.FORCE_CTYPES) != "1")


@pytest.fixture(params=["compiled", "ctypes"])
def calls(request):
    if request.param == "compiled":
        assert compiled is not None, "fdpo.sandbox._syscalls is not built (see the test above)"
        return compiled
    return _syscalls_ctypes


def in_a_fork(body) -> int:
    """Run ``body()`` in a fork of this process; its exit status (``body``'s return value, or 99 if it raised)."""
    pid = os.fork()
    if pid == 0:
        try:
            code = body()
        except BaseException:  # noqa: BLE001 - reported as the status
            code = 99
        os._exit(code)
    return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])


def test_a_failed_call_is_an_oserror_naming_the_call(calls):
    with pytest.raises(OSError) as caught:
        calls.prctl(-1)
    assert caught.value.errno == errno.EINVAL and caught.value.strerror == "prctl(-1): Invalid argument"
    with pytest.raises(OSError, match=r"umount /no/such/fdpo/path: No such file or directory") as caught:
        calls.umount2("/no/such/fdpo/path", MNT_DETACH)
    assert isinstance(caught.value, FileNotFoundError)
    with pytest.raises(OSError, match=r"mount_setattr /no/such/fdpo/path: "):
        calls.mount_setattr("/no/such/fdpo/path", AT_RECURSIVE, MOUNT_ATTR_RDONLY)
    with pytest.raises(OSError, match=r"mount /no/such/fdpo/path: "):
        calls.mount("none", "/no/such/fdpo/path", "tmpfs", 0)
    with pytest.raises(OSError, match=r"setrlimit\(-1\): Invalid argument"):
        calls.setrlimit(-1, 1, 1)


def test_a_call_that_succeeds_takes_effect(calls):
    def body():
        calls.setrlimit(resource.RLIMIT_NOFILE, 37, 38)
        calls.prctl(PR_SET_CHILD_SUBREAPER, 1)
        calls.clear_capabilities()
        calls.malloc_trim()
        with open("/proc/self/status") as f:
            status = dict(line.split(":", 1) for line in f.read().splitlines())
        ok = (resource.getrlimit(resource.RLIMIT_NOFILE) == (37, 38) and int(status["CapEff"], 16) == 0
              and int(status["CapPrm"], 16) == 0)
        return 0 if ok else 1

    assert in_a_fork(body) == 0


def test_shared_memory_is_shared_with_a_fork_and_unmaps(calls):
    view, address = calls.map_shared(4096)
    assert len(view) == 4096 and not view.readonly and bytes(view[:8]) == bytes(8)

    def body():
        view[:5] = b"hello"
        return 0

    assert in_a_fork(body) == 0
    assert bytes(view[:5]) == b"hello"
    view.release()
    calls.unmap(address, 4096)


def test_poll_in_says_which_are_readable_or_hung_up_within_the_limit(calls):
    r1, w1 = os.pipe()
    r2, w2 = os.pipe()
    try:
        start = time.monotonic()
        assert calls.poll_in((r1, r2), 50) == []
        assert 0.045 <= time.monotonic() - start < 1.0
        os.write(w2, b"x")
        assert calls.poll_in((r1, r2), 0.5) == [r2]
        os.close(w1)
        assert calls.poll_in((r1, r2), -1) == [r1, r2]  # a closed writer reads as ready (end of stream)
    finally:
        for fd in (r1, r2, w2):
            os.close(fd)


def test_fork_forks_and_the_child_goes_on(calls):
    pid = calls.fork()
    if pid == 0:
        os._exit(7)
    assert os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) == 7


# ---------------------------------------------------------------- the compiled test loop

def drive(board: Board, tests, waits, first=0):
    """Run ``syscalls.run_tests`` over ``tests`` (functions of the board and the offset, run in the test's
    process) to the end; the events it hands back."""
    n = len(tests)
    at = b"".join(o.to_bytes(8, sys.byteorder, signed=True) for o in board.offsets[:n])
    ms = b"".join(w.to_bytes(4, sys.byteorder, signed=True) for w in waits)
    last_pid = os.open("/proc/sys/kernel/ns_last_pid", os.O_RDONLY)
    events = []
    try:
        while True:
            event = compiled.run_tests(board.address, board.size, first, at, ms, BLANK, last_pid, False)
            if type(event) is int:  # the test's process
                try:
                    tests[event](board, board.offsets[event])
                finally:
                    os._exit(0)
            if event is None:
                return events
            events.append(event)
            first = event[0] + 1
    finally:
        os.close(last_pid)


def passes(board, offset):
    board.times[(offset >> 3) + 1] = 0.5
    board.map[offset] = 1


def fails(board, offset):
    write(board, offset, 2, 0.25, "AssertionError")


def leaves_no_verdict(board, offset):
    os._exit(3)


def hangs(board, offset):
    time.sleep(30)


def test_run_tests_hands_back_only_the_tests_python_must_look_at():
    board = Board(5)
    try:
        events = drive(board, [passes, fails, leaves_no_verdict, hangs, passes], [1000, 1000, 1000, 200, 1000])
        # Out of a PID namespace of its own another process may take the next PID: then any test reads as moved.
        looked_at = {e[0]: e for e in events}
        assert {2, 3} <= set(looked_at) and all(e[5] == 1 for e in events if e[0] not in (2, 3))
        test, pid, status, finished, seconds, _ = looked_at[2]
        assert pid > 0 and os.WIFEXITED(status) and os.WEXITSTATUS(status) == 3 and finished == 1
        test, pid, status, finished, seconds, _ = looked_at[3]
        assert finished == 0 and os.WIFSIGNALED(status) and 0.19 < seconds < 5
        assert board.get(0) == ("pass", 0.5, "") and board.get(4) == ("pass", 0.5, "")
        assert board.get(1) == ("fail", 0.25, "AssertionError")
        assert board.get(2) is None and board.get(3) is None  # no verdict of their own
        assert board.progress()[0] == 4
    finally:
        board.close()


def test_run_tests_skips_negative_waits_starts_at_first_and_blanks_each_record():
    board = Board(3)
    try:
        for j in range(3):
            board.put(j, "crash", 1.0, "left over")
        assert [e[0] for e in drive(board, [passes, passes, passes], [1000, -1, 1000], first=1) if not e[5]] == []
        assert board.get(0) == ("crash", 1.0, "left over")  # before first: untouched
        assert board.get(1) == ("crash", 1.0, "left over")  # skipped
        assert board.get(2) == ("pass", 0.5, "")
        assert BLANK[1] == PASS
    finally:
        board.close()


def test_run_tests_refuses_records_outside_the_board():
    board = Board(1)
    try:
        at = (board.size).to_bytes(8, "little")
        with pytest.raises(ValueError, match="outside the board"):
            compiled.run_tests(board.address, board.size, 0, at, (1000).to_bytes(4, "little"), BLANK, -1, True)
        with pytest.raises(ValueError, match="do not fit"):
            compiled.run_tests(board.address, board.size, 0, at, b"", BLANK, -1, True)
    finally:
        board.close()
