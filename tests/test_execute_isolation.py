"""What isolation holds in each mode: root or not, namespaces or not (docs/execute.md has the table).

Each mode runs the same probe script in a real process: as root with and
without namespaces, and as an unprivileged user (uid 65534, through
``setpriv``) with a user namespace and without any. The probes check the
outcomes, that a daemon escaping its test is killed, and which of fdpo,
secrets, host files and the network a candidate can reach. Every mode runs
with a fork per test and with a fork per candidate.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

PROBE = r'''
import json, os, sys
sys.path.insert(0, ROOT)
from fdpo.sandbox import Executor, Limits

OK = "def f(x):\n    return x + 1\n"
DAEMON = ("import os, time\nif os.fork() == 0:\n    os.setsid()\n    if os.fork() == 0:\n"
          "        open('daemon.tmp', 'w').write(str(os.getpid()))\n        os.rename('daemon.tmp', 'daemon.pid')\n"
          "        time.sleep(60)\n    os._exit(0)\n"
          "while not os.path.exists('daemon.pid'):\n    time.sleep(0.01)")
GONE = "import os\npid = int(open('daemon.pid').read())\ntry:\n    os.kill(pid, 0)\nexcept ProcessLookupError:\n    pass\nelse:\n    raise AssertionError('alive')"
tests = [
    "assert f(1) == 2", "assert f(1) == 3", "f()", "while True: pass", "import sys\nsys.exit(1)",
    DAEMON, GONE,
    f"import os\nos.kill({os.getpid()}, 0)",
    "import os\nassert 'FDPO_PROBE_SECRET' not in os.environ",
    f"open({HOST_FILE!r}, 'w').write('x')",
    "import socket\nsocket.create_connection(('1.1.1.1', 53), timeout=1)",
]
os.environ["FDPO_PROBE_SECRET"] = "hunter2"
with Executor(jobs=1, limits=Limits(timeout=1.0), namespaces=NAMESPACES, isolation=ISOLATION) as ex:
    r = next(ex.map([(OK, tests, [1.0, 1.0, 1.0, 0.3] + [2.0] * (len(tests) - 4))]))
print(json.dumps({"isolation": ex.isolation, "uid": os.getuid(), "statuses": r.statuses,
                  "reasons": [o.reason for o in r.outcomes], "host_file": os.path.exists(HOST_FILE)}))
'''


@pytest.fixture()
def open_dir():
    """A directory any user may enter (pytest's own tmp_path is private to its user)."""
    path = Path(tempfile.mkdtemp(prefix="fdpo-probe-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path)


@pytest.fixture(params=["test", "candidate"])
def isolation(request):
    return request.param


def probe(tmp_path: Path, namespaces: bool, unprivileged: bool, isolation: str = "test") -> dict:
    workdir = tmp_path / "probe"
    workdir.mkdir(mode=0o755)  # owned by the user running fdpo, whoever that is
    if unprivileged and os.geteuid() == 0:
        os.chown(workdir, 65534, 65534)
    host_file = workdir / "written-by-a-candidate"
    script = workdir / "probe.py"
    script.write_text(f"ROOT = {str(ROOT)!r}\nNAMESPACES = {namespaces}\nHOST_FILE = {str(host_file)!r}\n"
                      f"ISOLATION = {isolation!r}\n" + PROBE)
    script.chmod(0o644)
    command = [sys.executable, str(script)]
    if unprivileged and os.geteuid() == 0:
        command = as_nobody(command, tmp_path)
    out = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def as_nobody(command: list[str], tmp_path: Path) -> list[str]:
    """Run ``command`` as uid/gid 65534. This machine's interpreter may live under a private /root, so a
    private mount namespace first re-exposes just the interpreter's installation."""
    prefix = Path(os.path.realpath(sys.base_prefix))
    blocked = next((p for p in [*reversed(prefix.parents), prefix] if not p.stat().st_mode & 0o001), None)
    expose = ""
    if blocked is not None and blocked != prefix:
        stage = tmp_path / "stage"
        stage.mkdir()
        expose = (f"mount --bind {prefix} {stage} && mount -t tmpfs -o mode=755 tmpfs {blocked} && "
                  f"mkdir -p {prefix} && mount --bind {stage} {prefix} && ")
    inner = expose + "exec setpriv --reuid=65534 --regid=65534 --clear-groups " + " ".join(command)
    return ["unshare", "--mount", "--propagation", "private", "sh", "-c", inner]


COMMON = ["pass", "fail", "error", "timeout", "crash", "pass", "pass"]  # the daemon is dead by the next test


@pytest.mark.skipif(os.geteuid() != 0, reason="the root modes need root; the unprivileged ones run as this user")
@pytest.mark.parametrize("namespaces", [True, False], ids=["namespaces", "uid-only"])
def test_root_modes(open_dir, namespaces, isolation):
    out = probe(open_dir, namespaces, unprivileged=False, isolation=isolation)
    assert out["statuses"][:7] == COMMON, out
    assert "uid 18" in out["isolation"], out  # candidates run as a dedicated unprivileged uid
    assert out["statuses"][8] == "pass", out  # no secrets
    assert out["statuses"][9] == "error" and not out["host_file"], out  # no writing outside its directory
    if namespaces:
        assert "pid, net, mount, ipc, uts namespaces;" in out["isolation"], out
        assert out["reasons"][7].startswith("ProcessLookupError"), out  # fdpo is not even visible
        assert out["reasons"][10].startswith("OSError: [Errno 101] Network is unreachable"), out
    else:
        assert out["isolation"].startswith("no namespaces"), out
        assert out["reasons"][7].startswith("PermissionError"), out  # visible, but another user's


def test_unprivileged_with_user_namespaces(open_dir, isolation):
    out = probe(open_dir, namespaces=True, unprivileged=True, isolation=isolation)
    assert out["uid"] != 0, out
    assert "(through a user namespace)" in out["isolation"] and "the caller's uid" in out["isolation"], out
    assert out["statuses"][:7] == COMMON, out
    assert out["reasons"][7].startswith("ProcessLookupError"), out
    assert out["statuses"][8] == "pass", out
    assert out["statuses"][9] == "error" and not out["host_file"], out  # read-only filesystem
    assert out["reasons"][10].startswith("OSError: [Errno 101] Network is unreachable"), out


def test_unprivileged_without_namespaces(open_dir, isolation):
    """The weakest mode still gives outcomes, limits, kills and a clean environment; fdpo is reachable."""
    out = probe(open_dir, namespaces=False, unprivileged=True, isolation=isolation)
    assert out["uid"] != 0 and out["isolation"] == "no namespaces; the caller's uid; compiled test loop", out
    assert out["statuses"][:7] == COMMON, out
    assert out["statuses"][7] == "pass", out  # same uid, no PID namespace: it could signal fdpo
    assert out["statuses"][8] == "pass", out
    assert out["statuses"][9] == "pass" and out["host_file"], out  # it may write wherever its user may
