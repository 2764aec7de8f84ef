"""Problem records → the prompt texts the policy is asked to continue.

Covers the four built-in templates in ``fdpo/templates`` (code or tests × completion
or chat style), user templates that replace them, the literal ``{prompt}`` /
``{entry_point}`` substitution, the entry point of a record that lacks one, and the
unfinished last line of a completion test prompt. Does not cover the chat template of
a model (the backends render chat messages) or extraction (``fdpo.sampling.extract``).

Completion style: the text itself is continued (base models; the HumanEval prompt is
continued by the function body). Chat style: the text is one user message.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from fdpo.errors import FdpoError
from fdpo.sampling.extract import defined_names

STYLES = ("completion", "chat")


def builtin_template(kind: str, style: str) -> str:
    """The shipped template for ``kind`` (code or test) in ``style``."""
    if style not in STYLES:
        raise FdpoError(f"unknown prompt style {style!r} (expected one of {', '.join(STYLES)})")
    return resources.files("fdpo").joinpath("templates", f"{kind}_{style}.txt").read_text(encoding="utf-8")


def read_template(path: str | Path) -> str:
    p = Path(path)
    if not p.is_file():
        raise FdpoError(f"{p}: template file not found")
    text = p.read_text(encoding="utf-8")
    if "{prompt}" not in text:
        raise FdpoError(f"{p}: a template needs a {{prompt}} placeholder")
    return text


def entry_point_of(problem: dict) -> str | None:
    """The record's ``entry_point``, else the last function the prompt defines."""
    if problem.get("entry_point"):
        return problem["entry_point"]
    names = defined_names(problem.get("prompt", ""))
    return names[-1] if names else None


def render(template: str, problem: dict) -> str:
    """Replace the placeholders literally (prompts are full of braces, so no str.format)."""
    if "prompt" not in problem or not isinstance(problem["prompt"], str):
        raise ValueError("record has no 'prompt' text")
    text = template.replace("{prompt}", problem["prompt"])
    if "{entry_point}" in text:
        entry_point = entry_point_of(problem)
        if entry_point is None:
            raise ValueError("record has no 'entry_point' and its prompt defines no function")
        text = text.replace("{entry_point}", entry_point)
    return text


def _template(kind: str, style: str, override: str | Path | None) -> str:
    if override is None:
        return builtin_template(kind, style)
    return read_template(override) if isinstance(override, Path) else override


def code_prompt(problem: dict, style: str, template_override: str | Path | None = None) -> str:
    """The text that asks for a solution. ``template_override``: template text, or a Path to read."""
    return render(_template("code", style, template_override), problem)


def test_prompt(problem: dict, style: str, template_override: str | Path | None = None) -> str:
    """The text that asks for tests. ``template_override``: template text, or a Path to read."""
    return render(_template("test", style, template_override), problem)


test_prompt.__test__ = False  # not a pytest test, wherever it is imported


def completion_lead(prompt_text: str) -> str:
    """The unfinished last line of a completion prompt (``assert add(``), which the
    response continues; empty when the prompt ends with a newline."""
    return prompt_text[prompt_text.rfind("\n") + 1 :]
