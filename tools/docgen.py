"""Generates docs/cli.md from the commands' own ``--help``: ``python -m tools.docgen``.

Covers rendering each command's help at a fixed width so the file is the same
on every machine; a test keeps docs/cli.md equal to this output.
"""

from __future__ import annotations

import os

WIDTH = "100"


def help_text(args: list[str]) -> str:
    from typer.testing import CliRunner

    from fdpo.cli import app

    env = {"COLUMNS": WIDTH, "TERMINAL_WIDTH": WIDTH, "NO_COLOR": "1", "TERM": "dumb"}
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        result = CliRunner().invoke(app, [*args, "--help"], prog_name="fdpo", env=env)
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    return "\n".join(line.rstrip() for line in result.output.splitlines()).strip("\n")


def render() -> str:
    from fdpo.cli import app

    commands = [c.name for c in app.registered_commands]
    parts = [
        "# Command-line reference",
        "",
        "Generated from `--help` by `make docs` (`python -m tools.docgen > docs/cli.md`);",
        "a test fails when this file and the commands disagree.",
        "",
        "## fdpo",
        "",
        "```text",
        help_text([]),
        "```",
    ]
    for name in commands:
        parts += ["", f"## fdpo {name}", "", "```text", help_text([name]), "```"]
    return "\n".join(parts) + "\n"


if __name__ == "__main__":
    print(render(), end="")
