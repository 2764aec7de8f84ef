"""Snap a mid to syntax: widen it so that it covers whole expressions or whole statements.

Covers finding a parseable text that holds a response (its extracted ``code``,
a fenced block, the prompt + response, or the response alone), widening a
``[start, end)`` character range to the smallest enclosing expression,
statement or run of sibling statements with tree-sitter (an empty range between
two tokens, an insertion point, stays put), and the whole-line fallback where
nothing parses. Does not cover keeping two responses' prefixes identical
(``fdpo.locating.pairs`` runs the two sides to a fixed point).
"""

from __future__ import annotations

import ast
from functools import cache

from fdpo.locating.spans import ByteOffsets
from fdpo.sampling.extract import fenced_blocks

# Node kinds a mid may cover whole. tree-sitter-python hides its statement
# supertypes, so statements are listed by name; expressions come from the grammar.
STATEMENTS = frozenset(
    {
        "assert_statement", "break_statement", "continue_statement", "delete_statement", "exec_statement",
        "expression_statement", "for_statement", "future_import_statement", "global_statement",
        "if_statement", "import_from_statement", "import_statement", "match_statement",
        "nonlocal_statement", "pass_statement", "print_statement", "raise_statement", "return_statement",
        "try_statement", "type_alias_statement", "while_statement", "with_statement",
        "function_definition", "class_definition", "decorated_definition",
    }
)
# Sequences of statements: a mid inside one covers a run of whole children.
CONTAINERS = frozenset({"module", "block"})


@cache
def _parser():
    import tree_sitter_python
    from tree_sitter import Language, Parser

    return Parser(Language(tree_sitter_python.language()))


@cache
def units() -> frozenset[str]:
    import tree_sitter_python
    from tree_sitter import Language

    language = Language(tree_sitter_python.language())
    kinds = set(STATEMENTS) | {"comment", "expression_list", "yield"}
    for supertype in language.supertypes:
        if language.node_kind_for_id(supertype) in ("expression", "primary_expression"):
            kinds.update(language.node_kind_for_id(k) for k in language.subtypes(supertype))
    kinds.discard("primary_expression")
    return frozenset(kinds)


def _python_accepts(source: str) -> bool:
    # tree-sitter recovers from some errors without flagging them (bad dedents);
    # Python's own parser decides what "parses" means.
    try:
        ast.parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return False
    return True


def line_snap(text: str, start: int, end: int) -> tuple[int, int]:
    """Widen to whole lines; an empty range at a line start stays where it is."""
    line_start = text.rfind("\n", 0, start) + 1
    if start == end and line_start == start:
        return start, end
    if end > start and text[end - 1] == "\n":
        return line_start, end
    nl = text.find("\n", end)
    return line_start, len(text) if nl < 0 else nl + 1


class View:
    """A parsed text that holds the response, or part of it, at a known offset."""

    def __init__(self, root, source: str, data: bytes, shift: int, window: tuple[int, int]) -> None:
        self.root, self.source, self.shift, self.window = root, source, shift, window
        self.offsets = ByteOffsets(source, data)

    @classmethod
    def parse(cls, source: str, shift: int, window: tuple[int, int], compiles: bool = False) -> View | None:
        """The view, or None where the text does not parse; ``compiles``: Python is known to accept it."""
        data = source.encode("utf-8", "surrogatepass")
        tree = _parser().parse(data)
        if tree.root_node.has_error or not (compiles or _python_accepts(source)):
            return None
        return cls(tree.root_node, source, data, shift, window)

    def holds(self, start: int, end: int) -> bool:
        return self.window[0] <= start and end <= self.window[1]

    def widen(self, start: int, end: int) -> tuple[int, int]:
        """``[start, end)`` of the response widened to the smallest unit or run of statements around it."""
        a, b = self._widen_source(start + self.shift, end + self.shift)
        return max(a - self.shift, self.window[0]), min(b - self.shift, self.window[1])

    def _widen_source(self, start: int, end: int) -> tuple[int, int]:
        to_byte, to_char = self.offsets.to_byte, self.offsets.to_char
        a, b = (to_byte(x) for x in _without_whitespace(self.source, start, end))
        if a == b:
            leaf = _leaf_around(self.root, a)
            if leaf is None:
                return start, end  # an insertion point between tokens: the other side's mid decides
            a, b = leaf.start_byte, leaf.end_byte
        node = self.root.descendant_for_byte_range(a, b) or self.root
        kinds = units()
        while node.parent is not None and not _encloses(node, a, b, kinds):
            node = node.parent
        if node.type in kinds:
            return min(start, to_char(node.start_byte)), max(end, to_char(node.end_byte))
        run = [c for c in node.named_children if c.end_byte > a and c.start_byte < b]
        if not run:
            return start, end  # only whitespace between statements
        return min(start, to_char(run[0].start_byte)), max(end, to_char(run[-1].end_byte))


def _without_whitespace(source: str, start: int, end: int) -> tuple[int, int]:
    """The range less its outer whitespace (an all-blank range: the point after it).

    Whitespace between tokens belongs to no node but to their parent, so looking
    up "    y = 1\n" as is would find the enclosing function, not the statement.
    """
    text = source[start:end]
    lead, trail = len(text) - len(text.lstrip()), len(text) - len(text.rstrip())
    return (end, end) if lead == len(text) else (start + lead, end - trail)


def _leaf_around(root, point: int):
    """The token (leaf node) that ``point`` lies strictly inside, or None where it is between tokens.

    An empty mid is an insertion point. Between two tokens it is already a
    boundary, whatever expression or statement it ends or starts: widening it to
    the unit around it would, at the end of an expression (``xs[i] % 2`` +
    `` == 0``), take the whole statement. The other side's mid widens to a unit,
    and that pulls this side along to the matching unit (``xs[i] % 2``).
    """
    node = root.descendant_for_byte_range(point, point)
    if node is None or node.child_count or not node.start_byte < point < node.end_byte:
        return None
    return node


def _encloses(node, a: int, b: int, kinds: frozenset[str]) -> bool:
    """Whether ``node`` is where the non-empty [a, b) snaps to: a unit around it, or a statement sequence holding it."""
    if node.type not in kinds and node.type not in CONTAINERS:
        return False
    return node.start_byte <= a and b <= node.end_byte


class Syntax:
    """One response that can widen ranges of itself to syntax boundaries.

    A range is snapped in the first of these texts that holds it and parses:
    the candidate's ``code`` when it contains the response verbatim (a
    completion continuing the prompt), ``code`` or a fenced block when the
    response contains it (a chat answer), ``lead`` + the response (``lead``:
    the text the response continues), the response itself. Each is parsed once,
    when first needed. A range that none of them holds falls back to whole lines.
    ``code_loaded``: the candidate's code ran, so Python's parser need not check it again.
    """

    def __init__(self, response: str, code: str | None = None, lead: str = "", code_loaded: bool = False) -> None:
        self.text = response
        self._pending = _views(response, code, lead, code_loaded)
        self._parsed: list[View] = []

    def snap(self, start: int, end: int) -> tuple[tuple[int, int], str]:
        """The widened range and how it was found: ``"syntax"`` or ``"lines"``."""
        view = self._view_for(start, end)
        if view is None:
            return line_snap(self.text, start, end), "lines"
        return view.widen(start, end), "syntax"

    def _view_for(self, start: int, end: int) -> View | None:
        for view in self._parsed:
            if view.holds(start, end):
                return view
        for args in self._pending:
            view = View.parse(*args)
            if view is not None:
                self._parsed.append(view)
                if view.holds(start, end):
                    return view
        return None


def _views(response: str, code: str | None, lead: str, code_loaded: bool):
    """(text to parse, its offset minus the response's, the response range it covers, known to compile), best first."""
    whole = (0, len(response))
    if code and code != response:
        if (at := code.find(response)) >= 0:
            yield code, at, whole, code_loaded
        elif (at := response.find(code)) >= 0:
            yield code, -at, (at, at + len(code)), code_loaded
    for block in fenced_blocks(response):
        if block and (at := response.find(block)) >= 0:
            yield block, -at, (at, at + len(block)), False
    if lead:
        yield lead + response, len(lead), whole, False
    yield response, 0, whole, False
