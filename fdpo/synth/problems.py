"""From a seed to a problem: the model's instructions, its reply parsed, the result checked.

Covers the prompt template (a file, overridable), pulling the code out of a
reply (fenced or not), cutting it to a HumanEval-style prompt (everything up to
the end of the entry point's docstring, so a body the model wrote anyway is
dropped) and the checks a problem must pass: it parses, defines a top-level
function with a docstring, and is not a copy of its seed. Does not cover
running the model (see ``fdpo.sampling.backends``), duplicates or decontamination.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from tree_sitter import Node

from fdpo.errors import FdpoError
from fdpo.synth.concepts import describe, text
from fdpo.synth.dedup import ngrams, overlap
from fdpo.synth.parsing import parse

DEFAULT_TEMPLATE = Path(__file__).resolve().parents[1] / "templates" / "synth_problem.txt"
PLACEHOLDERS = ("{code}", "{concepts}")

# A problem whose word 5-grams are this much the seed's (overlap coefficient) is a copy.
COPY_OVERLAP = 0.7

_FENCE = re.compile(r"```[ \t]*(?:python3?|py)?[ \t]*\n(.*?)(?:```|\Z)", re.S)


@dataclass(frozen=True)
class Verdict:
    """A checked reply: ``prompt`` and ``entry_point`` when it passed, else the ``reason`` it failed."""

    prompt: str | None = None
    entry_point: str | None = None
    reason: str | None = None


def load_template(path: Path | None) -> str:
    """The template text; ``{code}`` and ``{concepts}`` are replaced, other braces are kept as they are."""
    path = path or DEFAULT_TEMPLATE
    try:
        template = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise FdpoError(f"--template {path}: {exc.strerror or exc}") from None
    if not any(p in template for p in PLACEHOLDERS):
        raise FdpoError(f"--template {path}: uses neither {{code}} nor {{concepts}}, so the model never sees the seed")
    return template


def render(template: str, seed: dict, chat: bool) -> str:
    """The model input for ``seed``; a completion model also gets an opened code fence to continue."""
    out = template.replace("{code}", seed["code"].rstrip("\n")).replace("{concepts}", describe(seed["concepts"]))
    return out if chat else out.rstrip("\n") + "\n\n```python\n"


def extract_code(reply: str, continued: bool) -> str:
    """The code of a reply: up to the closing fence when it ``continued`` an opened fence,
    else the first fenced block (or the whole reply when it has no fence)."""
    if continued:
        return reply.split("```")[0].strip("\n")
    match = _FENCE.search(reply)
    return (match.group(1) if match else reply).strip("\n")


def check_reply(reply: str, seed_code: str, *, continued: bool = False) -> Verdict:
    """The problem in a model's reply to the ``render``-ed seed, or why there is none."""
    code = extract_code(reply, continued)
    if not code.strip():
        return Verdict(reason="empty reply")
    source = code.encode("utf-8")
    root = parse(source).root_node
    functions = top_level_functions(root)
    if not functions:
        return Verdict(reason="syntax error" if root.has_error else "no function")
    documented = [(f, d) for f in functions if (d := docstring(f)) is not None]
    if not documented:
        return Verdict(reason="syntax error" if root.has_error else "no docstring")
    function, doc = documented[-1]
    prompt = source[: doc.end_byte].decode("utf-8") + "\n"
    if parse(prompt).root_node.has_error:
        return Verdict(reason="syntax error")
    if overlap(ngrams(prompt, 5), ngrams(seed_code, 5)) >= COPY_OVERLAP:
        return Verdict(reason="copy of seed")
    return Verdict(prompt=prompt, entry_point=text(function.child_by_field_name("name")))


def top_level_functions(root: Node) -> list[Node]:
    out = []
    for node in root.children:
        if node.type == "decorated_definition":
            node = node.child_by_field_name("definition")
        if node is not None and node.type == "function_definition":
            out.append(node)
    return out


def docstring(function: Node) -> Node | None:
    """The string that opens the function's body, if any."""
    body = function.child_by_field_name("body")
    first = body.named_children[0] if body is not None and body.named_children else None
    if first is not None and first.type == "expression_statement" and first.named_children:
        value = first.named_children[0]
        if value.type == "string" and len(first.named_children) == 1:
            return value
    return None


def problem_record(seed: dict, verdict: Verdict) -> dict:
    """The output record ``fdpo sample`` reads: the problem, its concepts and where its seed came from."""
    return {
        "id": "synth/" + seed["source"]["seed_hash"][:12],
        "prompt": verdict.prompt,
        "entry_point": verdict.entry_point,
        "concepts": seed["concepts"],
        "source": {**seed["source"], "function": seed["name"]},
    }
