"""One tree-sitter Python parser per process, created on first use.

Covers parsing bytes or text into a tree. Does not cover what is read from
the tree (see ``fdpo.synth.concepts``, ``fdpo.synth.seeds``, ``fdpo.synth.problems``).
"""

from __future__ import annotations

import functools

from tree_sitter import Language, Parser, Tree


@functools.cache
def _parser() -> Parser:
    import tree_sitter_python

    return Parser(Language(tree_sitter_python.language()))


def parse(source: bytes | str) -> Tree:
    """The syntax tree of ``source``; its offsets are UTF-8 byte offsets."""
    return _parser().parse(source.encode("utf-8") if isinstance(source, str) else source)
