/* The sandbox's Linux calls, compiled: what Python 3.11's os module lacks, and the fork-per-test loop.
 *
 * A sandbox worker that imports this module needs neither ctypes (with libffi), nor select, nor struct:
 * four libraries fewer mapped into every process a test forks from, and each mapping costs every fork and
 * exit. ``run_tests`` forks a candidate's tests one after the other and waits for each without going back
 * to Python in between, so the candidate process writes (and copies) no pages of its heap per test.
 * ``fdpo/sandbox/_syscalls_ctypes.py`` is the same interface through ctypes, for an install that could not
 * compile this file (``fdpo.sandbox.syscalls`` picks one); the loop then runs in Python (``runner``).
 * Every error is an OSError saying which call failed, as the ctypes side words it.
 */
#define _GNU_SOURCE
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <errno.h>
#include <limits.h>
#include <linux/capability.h>
#include <malloc.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434 /* the same number on every architecture (Linux 5.3) */
#endif
#ifndef SYS_mount_setattr
#define SYS_mount_setattr 442 /* Linux 5.12 */
#endif

/* OSError(errno, "<what>: <strerror>") (a subclass by errno, as OSError picks), as _syscalls_ctypes words it. */
static PyObject *fail(const char *what) {
    int err = errno;
    PyObject *args = Py_BuildValue("(iN)", err, PyUnicode_FromFormat("%s: %s", what, strerror(err)));
    if (args != NULL) {
        PyErr_SetObject(PyExc_OSError, args);
        Py_DECREF(args);
    }
    return NULL;
}

static PyObject *fail_on(const char *call, const char *subject) {
    char what[512];
    snprintf(what, sizeof what, "%s %s", call, subject);
    return fail(what);
}

static PyObject *fail_for(const char *call, int which) {
    char what[64];
    snprintf(what, sizeof what, "%s(%d)", call, which);
    return fail(what);
}

static PyObject *sys_fork(PyObject *self, PyObject *noargs) {
    pid_t pid = fork();
    if (pid < 0)
        return fail("fork");
    return PyLong_FromLong(pid);
}

static PyObject *sys_prctl(PyObject *self, PyObject *args) {
    int option;
    unsigned long arg = 0;
    if (!PyArg_ParseTuple(args, "i|k", &option, &arg))
        return NULL;
    if (prctl(option, arg, 0UL, 0UL, 0UL) != 0)
        return fail_for("prctl", option);
    Py_RETURN_NONE;
}

static PyObject *sys_setrlimit(PyObject *self, PyObject *args) {
    int resource;
    unsigned long soft, hard;
    if (!PyArg_ParseTuple(args, "ikk", &resource, &soft, &hard))
        return NULL;
    struct rlimit limit = {soft, hard};
    if (setrlimit(resource, &limit) != 0)
        return fail_for("setrlimit", resource);
    Py_RETURN_NONE;
}

static PyObject *sys_unshare(PyObject *self, PyObject *args) {
    int flags;
    if (!PyArg_ParseTuple(args, "i", &flags))
        return NULL;
    if (unshare(flags) != 0)
        return fail("unshare");
    Py_RETURN_NONE;
}

static PyObject *sys_mount(PyObject *self, PyObject *args) {
    const char *source, *target, *fstype, *data = NULL;
    unsigned long flags;
    if (!PyArg_ParseTuple(args, "zszk|z", &source, &target, &fstype, &flags, &data))
        return NULL;
    if (mount(source, target, fstype, flags, data) != 0)
        return fail_on("mount", target);
    Py_RETURN_NONE;
}

static PyObject *sys_umount2(PyObject *self, PyObject *args) {
    const char *target;
    int flags;
    if (!PyArg_ParseTuple(args, "si", &target, &flags))
        return NULL;
    if (umount2(target, flags) != 0)
        return fail_on("umount", target);
    Py_RETURN_NONE;
}

/* struct mount_attr of <linux/mount.h>, spelled out: older headers lack it. */
struct fdpo_mount_attr {
    uint64_t attr_set, attr_clr, propagation, userns_fd;
};

static PyObject *sys_mount_setattr(PyObject *self, PyObject *args) {
    const char *path;
    int flags;
    unsigned long long attr_set;
    if (!PyArg_ParseTuple(args, "siK", &path, &flags, &attr_set))
        return NULL;
    struct fdpo_mount_attr attr = {attr_set, 0, 0, 0};
    if (syscall(SYS_mount_setattr, AT_FDCWD, path, flags, &attr, sizeof attr) != 0)
        return fail_on("mount_setattr", path);
    Py_RETURN_NONE;
}

static PyObject *sys_clear_capabilities(PyObject *self, PyObject *noargs) {
    struct __user_cap_header_struct header = {_LINUX_CAPABILITY_VERSION_3, 0};
    struct __user_cap_data_struct data[2];
    memset(data, 0, sizeof data);
    if (syscall(SYS_capset, &header, data) != 0)
        return fail("capset");
    Py_RETURN_NONE;
}

static PyObject *sys_map_shared(PyObject *self, PyObject *args) {
    Py_ssize_t size;
    if (!PyArg_ParseTuple(args, "n", &size))
        return NULL;
    void *address = mmap(NULL, (size_t)size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (address == MAP_FAILED)
        return fail("mmap");
    PyObject *view = PyMemoryView_FromMemory(address, size, PyBUF_WRITE);
    if (view == NULL) {
        munmap(address, (size_t)size);
        return NULL;
    }
    return Py_BuildValue("(NK)", view, (unsigned long long)(uintptr_t)address);
}

static PyObject *sys_unmap(PyObject *self, PyObject *args) {
    unsigned long long address;
    Py_ssize_t size;
    if (!PyArg_ParseTuple(args, "Kn", &address, &size))
        return NULL;
    if (munmap((void *)(uintptr_t)address, (size_t)size) != 0)
        return fail("munmap");
    Py_RETURN_NONE;
}

static PyObject *sys_malloc_trim(PyObject *self, PyObject *noargs) {
    malloc_trim(0);
    Py_RETURN_NONE;
}

static double monotonic(void) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now); /* time.monotonic's clock */
    return (double)now.tv_sec + (double)now.tv_nsec * 1e-9;
}

/* poll() for POLLIN, resumed after a signal with the time left, as select.poll does (PEP 475): the number
 * ready, or -1 with a Python exception when a signal handler raised one, or -2 with errno set. ``release``:
 * let other threads run meanwhile, as select.poll does. */
static int poll_in(struct pollfd *polled, nfds_t n, int ms, int release) {
    double deadline = monotonic() + ms / 1000.0;
    for (;;) {
        int ready;
        if (release) {
            Py_BEGIN_ALLOW_THREADS
            ready = poll(polled, n, ms);
            Py_END_ALLOW_THREADS
        } else {
            ready = poll(polled, n, ms);
        }
        if (ready >= 0)
            return ready;
        if (errno != EINTR)
            return -2;
        if (PyErr_CheckSignals() < 0)
            return -1;
        if (ms > 0) {
            double left = deadline - monotonic();
            ms = left > 0 ? (int)(left * 1000.0) + 1 : 0;
        }
    }
}

/* Milliseconds for poll() from a Python number of them: rounded up, negative means no limit. */
static int poll_ms(double ms) {
    if (ms < 0)
        return -1;
    if (ms >= INT_MAX)
        return INT_MAX;
    int whole = (int)ms;
    return whole + ((double)whole < ms);
}

/* Which of ``fds`` are readable (or hung up) within ``timeout`` milliseconds (negative: no limit). */
static PyObject *sys_poll_in(PyObject *self, PyObject *args) {
    PyObject *fds;
    double timeout;
    if (!PyArg_ParseTuple(args, "O!d", &PyTuple_Type, &fds, &timeout))
        return NULL;
    Py_ssize_t n = PyTuple_GET_SIZE(fds);
    struct pollfd polled[8];
    if (n > 8) {
        PyErr_SetString(PyExc_ValueError, "poll_in takes at most 8 descriptors");
        return NULL;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        polled[i].fd = (int)PyLong_AsLong(PyTuple_GET_ITEM(fds, i));
        polled[i].events = POLLIN;
        polled[i].revents = 0;
    }
    if (PyErr_Occurred())
        return NULL;
    int ready = poll_in(polled, (nfds_t)n, poll_ms(timeout), 1);
    if (ready == -1)
        return NULL;
    if (ready == -2)
        return fail("poll");
    PyObject *out = PyList_New(0);
    for (Py_ssize_t i = 0; out != NULL && i < n; i++) {
        if (polled[i].revents && PyList_Append(out, PyTuple_GET_ITEM(fds, i)) < 0)
            Py_CLEAR(out);
    }
    return out;
}

/* ---------------------------------------------------------------- the fork-per-test loop */

/* Wait up to ``ms`` for the process behind ``pidfd`` to end: 1 if it did (or cannot be waited for: then
 * waitpid blocks, bounded by the process's CPU limit), 0 if not, -1 if a signal handler raised. */
static int wait_for_exit(int pidfd, int ms, int release) {
    struct pollfd polled = {pidfd, POLLIN, 0};
    int ready = poll_in(&polled, 1, ms, release);
    return ready == -1 ? -1 : ready != 0;
}

static void reap(pid_t pid, int *status, int release) {
    int done;
    do {
        if (release) {
            Py_BEGIN_ALLOW_THREADS
            done = waitpid(pid, status, 0);
            Py_END_ALLOW_THREADS
        } else {
            done = waitpid(pid, status, 0);
        }
    } while (done < 0 && errno == EINTR);
}

/* Whether the last PID handed out in the namespace is not ``pid``: the test started processes or threads
 * (or it cannot tell). */
static int pids_moved(int last_pid, pid_t pid) {
    char text[32];
    if (last_pid < 0)
        return 1;
    ssize_t n = pread(last_pid, text, sizeof text - 1, 0);
    if (n <= 0)
        return 1;
    text[n] = 0;
    char *end;
    long value = strtol(text, &end, 10);
    return end == text || value != pid;
}

static void kill_and_reap(pid_t pid, int release) {
    int status;
    killpg(pid, SIGKILL);
    kill(pid, SIGKILL);
    reap(pid, &status, release);
}

PyDoc_STRVAR(run_tests_doc,
"run_tests(address, size, first, offsets, waits, blank, last_pid, plain) -> None | int | tuple\n\n"
"Fork tests first, first + 1, ... of a board (``size`` bytes at ``address``): for each, write ``blank``\n"
"(a pass without a reason) at its record's offset (``offsets``: int64 each), mark it running since now\n"
"(int64 test, double time.monotonic() at offset 0), fork, and wait up to its ``waits`` (int32\n"
"milliseconds each; negative: skip the test). In the test's process it returns the test's index. In this\n"
"process it returns None when every test is done, or (test, pid, wait status, finished, seconds, moved)\n"
"for a test Python must look at: one whose process left no verdict (state byte not 1), was killed at its\n"
"limit (finished 0), or started processes or threads (moved 1: ``last_pid``, the namespace's\n"
"ns_last_pid, is not the test's pid); pid is -1 and the status an errno when the fork failed. Resume\n"
"from test + 1. ``plain``: fork without CPython's bookkeeping (one thread, no at-fork hooks); else fork\n"
"as os.fork does, and let the other threads run while a test does.");

static PyObject *sys_run_tests(PyObject *self, PyObject *args) {
    unsigned long long address;
    Py_ssize_t size, first;
    Py_buffer offsets, waits, blank;
    int last_pid, plain;
    if (!PyArg_ParseTuple(args, "Knny*y*y*ip", &address, &size, &first, &offsets, &waits, &blank, &last_pid,
                          &plain))
        return NULL;
    PyObject *result = NULL;
    Py_ssize_t n = offsets.len / 8;
    const int64_t *at = offsets.buf;
    const int32_t *ms = waits.buf;
    char *board = (char *)(uintptr_t)address;
    if (offsets.len % 8 || waits.len != n * 4 || blank.len < 1 || first < 0 || size < 16) {
        PyErr_SetString(PyExc_ValueError, "run_tests: offsets, waits or blank do not fit");
        goto done;
    }
    for (Py_ssize_t j = first; j < n; j++) {
        if (ms[j] < 0)
            continue;
        int64_t offset = at[j];
        if (offset < 16 || offset > size - blank.len) {
            PyErr_SetString(PyExc_ValueError, "run_tests: a record lies outside the board");
            goto done;
        }
        memcpy(board + offset, blank.buf, (size_t)blank.len);
        double start = monotonic();
        int64_t running = j;
        memcpy(board, &running, 8);
        memcpy(board + 8, &start, 8);
        if (!plain)
            PyOS_BeforeFork();
        pid_t pid = fork();
        int fork_errno = errno;
        if (pid == 0) {
            if (!plain)
                PyOS_AfterFork_Child();
            result = PyLong_FromSsize_t(j);
            goto done;
        }
        if (!plain)
            PyOS_AfterFork_Parent();
        if (pid < 0) {
            result = Py_BuildValue("(niiidi)", j, -1, fork_errno, 1, 0.0, 0);
            goto done;
        }
        int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
        if (pidfd < 0) {
            kill_and_reap(pid, !plain);
            fail("pidfd_open");
            goto done;
        }
        int finished = wait_for_exit(pidfd, ms[j], !plain);
        if (finished <= 0) {
            killpg(pid, SIGKILL);
            kill(pid, SIGKILL);
        }
        int status = 0;
        reap(pid, &status, !plain);
        close(pidfd);
        if (finished < 0)
            goto done; /* the signal handler's exception */
        int moved = pids_moved(last_pid, pid);
        if (moved || !finished || board[offset] != 1) {
            result = Py_BuildValue("(niiidi)", j, (int)pid, status, finished, monotonic() - start, moved);
            goto done;
        }
    }
    result = Py_NewRef(Py_None);
done:
    PyBuffer_Release(&offsets);
    PyBuffer_Release(&waits);
    PyBuffer_Release(&blank);
    return result;
}

static PyMethodDef methods[] = {
    {"fork", sys_fork, METH_NOARGS, "fork() without CPython's bookkeeping: for a process with one thread and no "
                                    "at-fork hooks."},
    {"prctl", sys_prctl, METH_VARARGS, "prctl(option, arg=0)"},
    {"setrlimit", sys_setrlimit, METH_VARARGS, "setrlimit(resource, soft, hard)"},
    {"unshare", sys_unshare, METH_VARARGS, "unshare(flags)"},
    {"mount", sys_mount, METH_VARARGS, "mount(source, target, fstype, flags, data=None)"},
    {"umount2", sys_umount2, METH_VARARGS, "umount2(target, flags)"},
    {"mount_setattr", sys_mount_setattr, METH_VARARGS, "mount_setattr(path, flags, attr_set)"},
    {"clear_capabilities", sys_clear_capabilities, METH_NOARGS, "capset(): no capability left in any set."},
    {"map_shared", sys_map_shared, METH_VARARGS, "map_shared(size) -> (writable memoryview, address): "
                                                 "anonymous memory shared with forks."},
    {"unmap", sys_unmap, METH_VARARGS, "unmap(address, size)"},
    {"malloc_trim", sys_malloc_trim, METH_NOARGS, "malloc_trim(0): hand glibc's free heap pages back."},
    {"poll_in", sys_poll_in, METH_VARARGS, "poll_in(fds, timeout_ms) -> the readable (or hung up) ones, "
                                           "at most 8; [] on timeout or a signal."},
    {"run_tests", sys_run_tests, METH_VARARGS, run_tests_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "fdpo.sandbox._syscalls",
    "The sandbox's Linux calls and its fork-per-test loop, compiled (see fdpo.sandbox.syscalls).", -1, methods,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__syscalls(void) {
    return PyModule_Create(&module);
}
