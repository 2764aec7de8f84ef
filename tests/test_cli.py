"""The app as a whole: every stage is there, help is instant and teaches, docs/cli.md is current."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from fdpo.cli import COMMANDS, app

ROOT = Path(__file__).resolve().parents[1]


def test_every_stage_is_listed():
    result = CliRunner().invoke(app, ["--help"])
    assert result.exit_code == 0
    for name in COMMANDS:
        assert name in result.output


@pytest.mark.parametrize("name", COMMANDS)
def test_help_for_every_command_has_an_example(name):
    result = CliRunner().invoke(app, [name, "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "Example" in result.output
    assert f"fdpo {name}" in result.output


def test_help_imports_nothing_heavy(fdpo_exe):
    code = (
        "import sys; from fdpo.cli import app; "
        "heavy = [m for m in ('torch', 'transformers', 'vllm', 'accelerate', 'numpy', 'tree_sitter', 'networkx') if m in sys.modules]; "
        "print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_help_runs_as_a_real_process(fdpo_exe):
    for args in ([], ["rank"]):
        done = subprocess.run(fdpo_exe + args + ["--help"], capture_output=True, text=True, timeout=60)
        assert done.returncode == 0
        assert "Usage" in done.stdout


def test_python_dash_m_and_version():
    done = subprocess.run([sys.executable, "-m", "fdpo", "--version"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0
    assert done.stdout.startswith("fdpo ")


def test_docs_cli_is_current():
    from tools.docgen import render

    assert (ROOT / "docs" / "cli.md").read_text() == render(), "run `make docs` to regenerate docs/cli.md"
