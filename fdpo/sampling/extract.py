"""Runnable code and single-assert tests out of model responses, with tree-sitter.

Covers: cutting a completion at stop sequences, finding the program in a chat reply
(its fenced block), keeping only the syntactically valid top-level definitions of a
program, and splitting test responses into single ``assert`` snippets that parse,
deduplicated and capped per problem. Does not cover rendering prompts
(``fdpo.sampling.prompting``), generating (``fdpo.sampling.backends``) or running anything (``fdpo execute``).

A response is never changed here: ``extract_code`` / ``extract_tests`` return new text
built from it.
"""

from __future__ import annotations

import ast
import re
import textwrap
from dataclasses import dataclass
from functools import lru_cache

# Where a completion-style function body ends: the HumanEval stop sequences (as in
# Codex / EvalPlus) plus a closing fence. Helpers written *after* the function are
# therefore cut; helpers in the prompt are kept, and so are all valid definitions of
# a chat reply. The most frequent come first: OpenAI-style servers take only four.
CODE_STOPS = ["\ndef ", "\nif __name__", "\nprint(", "\n#", "\nclass ", "\nassert", "\n```"]
# Where a completion-style test continuation ends: the same, but asserts go on.
TEST_STOPS = ["\ndef ", "\nif __name__", "\nprint(", "\n#", "\nclass ", "\n```"]

# Top-level statements a program keeps; anything else (prints, example calls,
# `if __name__ == "__main__":` blocks, prose) is dropped.
_DEFINITIONS = {
    "import_statement",
    "import_from_statement",
    "future_import_statement",
    "function_definition",
    "class_definition",
    "decorated_definition",
}
_CONTINUATION = re.compile(rb"(else|elif|except|finally)\b|[)\]}]")
_FENCE = re.compile(r"^[ \t]*```[ \t]*([\w.+-]*)[^\n]*\n(.*?)(?:^[ \t]*```|\Z)", re.S | re.M)
_PYTHON_FENCES = {"", "python", "py", "python3"}


@lru_cache(maxsize=1)
def _parser():
    import tree_sitter_python
    from tree_sitter import Language, Parser

    return Parser(Language(tree_sitter_python.language()))


@dataclass
class Statement:
    """A top-level statement that parsed cleanly: its node and its source text."""

    node: object  # tree_sitter.Node (kept alive with its tree)
    text: str
    base: int = 0  # byte offset of the parsed chunk the node's offsets count from

    @property
    def kind(self) -> str:
        return self.node.type


def cut_at_stops(text: str, stops: list[str] | None) -> str:
    """``text`` up to the earliest stop sequence (exclusive), as backends apply them."""
    cut = len(text)
    for stop in stops or []:
        at = text.find(stop)
        if at != -1:
            cut = min(cut, at)
    return text[:cut]


def statements(source: str) -> tuple[list[Statement], bool]:
    """The clean top-level statements of ``source`` and whether anything was skipped.

    tree-sitter's error recovery can swallow valid code that follows an error into
    one ERROR node, so after an error the parse restarts at the next line that can
    begin a top-level statement.
    """
    data = source.encode()
    found, skipped, pos = [], False, 0
    while pos < len(data):
        bad = None
        for node in _parser().parse(data[pos:]).root_node.children:
            if node.has_error:
                bad = node
                break
            found.append(Statement(node, data[pos + node.start_byte : pos + node.end_byte].decode(), pos))
        if bad is None:
            break
        skipped = True
        start = pos + bad.start_byte
        end = _next_statement_line(data, start)
        # The error may lie after this node's first top-level line: try that line alone.
        for node in _parser().parse(data[start:end]).root_node.children:
            if node.has_error:
                break
            found.append(Statement(node, data[start + node.start_byte : start + node.end_byte].decode(), start))
        pos = end
    return found, skipped


def _next_statement_line(data: bytes, pos: int) -> int:
    """Offset of the first line after ``pos`` that can start a top-level statement."""
    previous = data[data.rfind(b"\n", 0, pos) + 1 : pos + 1]
    at = data.find(b"\n", pos)
    while at != -1:
        line_start = at + 1
        line_end = data.find(b"\n", line_start)
        line = data[line_start : line_end if line_end != -1 else len(data)]
        if line[:1] not in (b"", b" ", b"\t", b"\r") and not _CONTINUATION.match(line):
            if not previous.lstrip().startswith(b"@"):
                return line_start
        if line.strip():
            previous = line
        at = line_end
    return len(data)


def _is_definition(stmt: Statement) -> bool:
    if stmt.kind in _DEFINITIONS:
        return True
    return stmt.kind == "expression_statement" and stmt.node.children[0].type in ("assignment", "augmented_assignment")


def keep_definitions(source: str) -> str:
    """``source`` with only its clean imports, definitions and assignments.

    Returned unchanged when there is nothing to drop (comments are kept then).
    """
    found, skipped = statements(source)
    kept = [s for s in found if _is_definition(s) or s.kind == "comment"]
    if not skipped and len(kept) == len(found):
        return source
    texts = [s.text for s in kept if s.kind != "comment"]
    return "\n\n".join(texts) + ("\n" if texts else "")


def defined_names(source: str) -> list[str]:
    """Names of the top-level functions and classes of ``source``, in order."""
    names = []
    for stmt in statements(source)[0]:
        node = stmt.node
        if node.type == "decorated_definition":
            node = node.child_by_field_name("definition")
        if node.type in ("function_definition", "class_definition"):
            names.append(node.child_by_field_name("name").text.decode())
    return names


def fenced_blocks(response: str) -> list[str]:
    """Python (or unlabelled) fenced code blocks; an unclosed last block runs to the end."""
    return [m.group(2) for m in _FENCE.finditer(response) if m.group(1).lower() in _PYTHON_FENCES]


def _pick_block(response: str, entry_point: str | None) -> str:
    blocks = fenced_blocks(response)
    if not blocks:
        return response
    if entry_point:
        pattern = re.compile(rf"^\s*(async\s+)?def\s+{re.escape(entry_point)}\s*\(", re.M)
        for block in blocks:
            if pattern.search(block):
                return block
    return next((b for b in blocks if re.search(r"^\s*def\s", b, re.M)), blocks[0])


def _prompt_context(prompt: str, block: str, entry_point: str | None) -> str:
    """The prompt's imports and helper definitions that ``block`` does not define itself."""
    own = set(defined_names(block))
    keep = []
    for stmt in statements(prompt)[0]:
        if stmt.kind in ("import_statement", "import_from_statement", "future_import_statement"):
            if stmt.text not in block:
                keep.append(stmt.text)
        elif stmt.kind in _DEFINITIONS:
            name = defined_names(stmt.text)
            if name and name[0] != entry_point and name[0] not in own:
                keep.append(stmt.text)
    return "\n".join(keep) + ("\n\n" if keep else "")


def extract_code(
    response: str,
    *,
    style: str,
    prompt: str = "",
    entry_point: str | None = None,
    stops: list[str] | None = None,
) -> str:
    """The runnable program in ``response``.

    completion: ``prompt`` + the response cut at ``stops`` (default ``CODE_STOPS``).
    chat: the fenced block that defines ``entry_point`` (else the first with a def,
    else the first; the whole reply when it has none), after the prompt's imports and
    helpers; a block that holds only an indented body continues ``prompt`` instead.
    Either way only the clean top-level definitions survive.
    """
    if style == "completion":
        return keep_definitions(prompt + cut_at_stops(response, CODE_STOPS if stops is None else stops))
    block = _pick_block(response, entry_point)
    if entry_point and entry_point not in defined_names(block) and block[:1] in (" ", "\t"):
        return keep_definitions(prompt + block)
    return keep_definitions(_prompt_context(prompt, block, entry_point) + block)


def extract_tests(
    response: str,
    *,
    style: str,
    lead: str = "",
    entry_point: str | None = None,
    stops: list[str] | None = None,
) -> list[str]:
    """Single-assert test snippets of one test response, deduplicated, in order.

    completion: the snippet text is ``lead`` (the prompt's unfinished last line, e.g.
    ``assert add(``) + the response cut at ``stops`` (default ``TEST_STOPS``).
    chat: the reply's Python blocks (the whole reply when it has none).
    Each top-level assert (also those directly in a ``def test…`` body) becomes one
    snippet, preceded by the assignments and imports it uses. Snippets must compile and,
    when ``entry_point`` is known, call it.
    """
    if style == "completion":
        source = lead + cut_at_stops(response, TEST_STOPS if stops is None else stops)
    else:
        source = "\n".join(fenced_blocks(response)) or response
    snippets, seen = [], set()
    for snippet in _assert_snippets(statements(source)[0], source, entry_point):
        key = _canonical(snippet)
        if key is not None and key not in seen:
            seen.add(key)
            snippets.append(snippet)
    return snippets


def _assert_snippets(stmts: list[Statement], source: str, entry_point: str | None, setup=()) -> list[str]:
    setup, out = list(setup), []
    for stmt in stmts:
        node = stmt.node
        if node.type == "assert_statement":
            if entry_point is None or entry_point in _identifiers(node):
                out.append("\n".join([*_needed(setup, node), stmt.text]))
        elif _binds(stmt) and entry_point not in _binds(stmt):
            setup.append(stmt)
        elif node.type == "function_definition" and _is_test_function(node):
            body = node.child_by_field_name("body")
            inner = [Statement(child, _dedented(source, stmt.base, child), stmt.base) for child in body.children]
            out.extend(_assert_snippets(inner, source, entry_point, setup))
    return out


def _is_test_function(node) -> bool:
    name = node.child_by_field_name("name").text.decode()
    return name.startswith(("test", "check")) and not node.child_by_field_name("parameters").named_children


def _dedented(source: str, base: int, node) -> str:
    data = source.encode()
    line_start = data.rfind(b"\n", 0, base + node.start_byte) + 1
    return textwrap.dedent(data[line_start : base + node.end_byte].decode())


def _identifiers(node) -> set[str]:
    names, stack = set(), [node]
    while stack:
        n = stack.pop()
        if n.type == "identifier":
            names.add(n.text.decode())
        stack.extend(n.children)
    return names


def _binds(stmt: Statement) -> set[str]:
    """Names a setup statement (assignment or import) binds; empty for anything else."""
    node = stmt.node
    if node.type == "expression_statement" and node.children[0].type == "assignment":
        return _identifiers(node.children[0].child_by_field_name("left"))
    if node.type == "import_statement":
        return {_bound_import_name(n, first=True) for n in node.children_by_field_name("name")}
    if node.type == "import_from_statement":
        return {_bound_import_name(n, first=False) for n in node.children_by_field_name("name")}
    return set()


def _bound_import_name(node, *, first: bool) -> str:
    if node.type == "aliased_import":
        return node.child_by_field_name("alias").text.decode()
    parts = node.text.decode().split(".")
    return parts[0] if first else parts[-1]


def _needed(setup: list[Statement], assert_node) -> list[str]:
    """The setup statements an assert depends on (transitively), in source order."""
    needed, chosen = _identifiers(assert_node), []
    for stmt in reversed(setup):
        if _binds(stmt) & needed:
            chosen.append(stmt.text)
            needed |= _identifiers(stmt.node)
    return chosen[::-1]


def _canonical(snippet: str) -> str | None:
    """A formatting-independent key for deduplication; None when CPython rejects it."""
    try:
        return ast.dump(ast.parse(snippet))
    except (SyntaxError, ValueError):
        return None


def collect_tests(per_generation: list[list[str]], cap: int) -> tuple[list[tuple[int, str]], int, int]:
    """Pick at most ``cap`` distinct snippets across generations, round-robin.

    Returns ``(chosen, duplicates, over_cap)`` where ``chosen`` holds
    ``(generation index, snippet)``; taking the first test of every generation before
    any second one keeps the cap from favouring the first generations.
    """
    chosen, seen, duplicates, over_cap = [], set(), 0, 0
    depth = max((len(g) for g in per_generation), default=0)
    for level in range(depth):
        for index, snippets in enumerate(per_generation):
            if level >= len(snippets):
                continue
            key = _canonical(snippets[level])
            if key in seen:
                duplicates += 1
            elif len(chosen) >= cap:
                over_cap += 1
            else:
                seen.add(key)
                chosen.append((index, snippets[level]))
    return chosen, duplicates, over_cap
