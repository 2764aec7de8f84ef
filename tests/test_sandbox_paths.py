"""The sandbox works wherever the project or its venv lives, /tmp included.

A worker gets a private, empty /tmp (and /var/tmp, /dev/shm); the paths its
interpreter imports from must stay visible there, read-only, and nothing else
of the host's /tmp. The test runs a real ``fdpo execute`` from a copy of the
package and a venv, both under /tmp, as a fresh clone would.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path

import orjson
import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture()
def clone():
    """/tmp/fdpo-clone-*/ with project/fdpo (a copy of the package), venv/ and a secret beside them."""
    base = Path(tempfile.mkdtemp(prefix="fdpo-clone-", dir="/tmp"))
    base.chmod(0o755)
    shutil.copytree(ROOT / "fdpo", base / "project" / "fdpo", ignore=shutil.ignore_patterns("__pycache__"))
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(base / "venv")], check=True, timeout=60)
    (base / "secret.txt").write_text("not for candidates")
    yield base
    shutil.rmtree(base)


def test_execute_from_a_project_and_venv_under_tmp(clone):
    project, secret = clone / "project", clone / "secret.txt"
    package_file = project / "fdpo" / "__init__.py"
    tests = [
        "assert f(1) == 2",
        f"assert open({str(package_file)!r}).read()",  # the project is visible ...
        f"open({str(project / 'written')!r}, 'w')",  # ... read-only
        f"import os\nassert not os.path.exists({str(secret)!r})",  # the rest of /tmp is not
        "import fdpo.sandbox.compare",  # the worker imports from the copy
    ]
    record = {"id": "a", "prompt": "p", "candidates": [{"id": "c", "response": "r", "code": "def f(x):\n    return x + 1\n"}],
              "tests": [{"id": f"t{j}", "response": "t", "code": t} for j, t in enumerate(tests)]}
    (clone / "in.jsonl").write_bytes(orjson.dumps(record) + b"\n")
    deps = sysconfig.get_paths()["purelib"]  # typer, rich, orjson: this venv's (not processed as a site dir)
    env = {**os.environ, "PYTHONPATH": f"{project}{os.pathsep}{deps}", "FDPO_DEBUG": "1"}
    done = subprocess.run(
        [str(clone / "venv" / "bin" / "python"), "-m", "fdpo", "execute", str(clone / "in.jsonl"),
         "-o", str(clone / "out.jsonl"), "--jobs", "1", "--timeout", "5"],
        cwd=project, env=env, capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 0, done.stderr
    execution = orjson.loads((clone / "out.jsonl").read_bytes())["execution"]
    said = " ".join(done.stderr.split())  # the sandbox's description, unwrapped
    if "private /tmp" in said:
        kept = said.split("private /tmp (but for ", 1)[1].split(", read-only)")[0].split(", ")
        assert str(project) in kept and str(clone / "venv" / "bin") in kept, said
        assert execution["outcomes"][0] == ["pass", "pass", "error", "pass", "pass"], execution
    else:  # no mount namespace here: /tmp is the host's, so at least everything must load and run
        assert [execution["outcomes"][0][j] for j in (0, 1, 4)] == ["pass"] * 3, execution
    assert not (project / "written").exists()
