"""Shared prefix and suffix of two responses, on characters or on token ids.

Covers the longest common prefix / suffix of two sequences, the ``Cut`` that
records them as character counts, the token view of a response (token ids and
where each token boundary falls in the text), where Python's lexical rules put
token boundaries in a response (for cuts on characters) and character ↔ UTF-8
byte offsets for tree-sitter. Characters are Python ``str`` positions (Unicode
code points). Does not cover syntax snapping (``fdpo.locating.snap``) or choosing pairs
(``fdpo.locating.pairs``).
"""

from __future__ import annotations

import operator
import re
from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from itertools import accumulate

from fdpo.errors import FdpoError


def common_prefix_len(a: Sequence, b: Sequence) -> int:
    """Length of the longest common prefix; slices compare in C, so this is a binary search."""
    lo, hi = 0, min(len(a), len(b))
    if a[:hi] == b[:hi]:
        return hi
    while lo < hi:  # invariant: a[:lo] == b[:lo] and a[:hi+1] != b[:hi+1]
        mid = (lo + hi + 1) // 2
        if a[:mid] == b[:mid]:
            lo = mid
        else:
            hi = mid - 1
    return lo


def common_suffix_len(a: Sequence, b: Sequence, limit: int) -> int:
    """Length of the longest common suffix, at most ``limit``."""
    lo, hi = 0, min(len(a), len(b), limit)
    la, lb = len(a), len(b)
    if a[la - hi:] == b[lb - hi:]:
        return hi
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if a[la - mid:] == b[lb - mid:]:
            lo = mid
        else:
            hi = mid - 1
    return lo


@dataclass(frozen=True)
class Cut:
    """The shared parts of two responses: the first ``prefix`` and the last ``suffix`` characters.

    Both responses have the same prefix text and the same suffix text; what lies
    between is each response's mid. ``prefix + suffix`` never exceeds either length.
    """

    prefix: int
    suffix: int

    def spans(self, length: int) -> dict[str, list[int]]:
        end = length - self.suffix
        return {"prefix": [0, self.prefix], "mid": [self.prefix, end], "suffix": [end, length]}


def char_cut(chosen: str, rejected: str) -> Cut:
    prefix = common_prefix_len(chosen, rejected)
    limit = min(len(chosen), len(rejected)) - prefix
    return Cut(prefix, common_suffix_len(chosen, rejected, limit))


def _python_lexeme() -> re.Pattern:
    """One Python token (or run of blanks) at a time, by Python's lexical rules; any other character alone.

    Alternatives are tried in order: a number before a name (``1e5``), a string
    before a name (its prefix ``rb`` would be one). A number may be coarser than
    Python's (``1.__class__`` is one piece), never finer.
    """
    continuation = r"[^\S\r\n]*\\\r?\n[^\S\r\n]*"  # with the blanks around it: Python has no token there
    number = r"(?:\d|\.\d)(?:[eE][+-]|[\w.])*"
    triple = r"'''(?:[^'\\]|\\.|'(?!''))*'''|" + r'"""(?:[^"\\]|\\.|"(?!""))*"""'
    single = r"'(?:[^'\\\n]|\\.)*'|" + r'"(?:[^"\\\n]|\\.)*"'
    string = r"(?=[rRbBuUfFtT]{0,2}['\"])(?i:rb|br|fr|rf|tr|rt|[rubft])?(?:" + triple + "|" + single + ")"
    operator = r"\*\*=?|//=?|>>=?|<<=?|\.\.\.|->|:=|[-+*/%&|^@=!<>]=|[-+*/%&|^@=<>()\[\]{},:;.~]"
    pieces = [continuation, r"[^\S\r\n]+", r"\r?\n", number, string, r"\w+", operator, r"#[^\r\n]*", "."]
    return re.compile("|".join(pieces), re.DOTALL)


_LEXEME = _python_lexeme()


class Edges:
    """The token boundaries of a response by Python's lexical rules, as sorted character positions.

    Boundaries are both ends of every name, number, operator (the longest of
    Python's operators that matches), whole string literal (f-strings too),
    comment, newline and run of blanks: on code that Python tokenizes, the
    boundaries of Python's own tokenizer, never one inside its tokens
    (tests/test_locate_fidelity.py checks this). Nothing is parsed, so any text
    can be cut, in one regular expression in C: a character Python has no
    token for (``$``, the quote of an unterminated string) is a piece of its own,
    and names, numbers and operators stay whole.
    """

    def __init__(self, text: str) -> None:
        # The pieces tile the text, so their lengths add up to the boundaries (all in C).
        self.positions = [0, *accumulate(map(len, _LEXEME.findall(text)))]

    def at_or_before(self, pos: int) -> int:
        return self.positions[bisect_right(self.positions, pos) - 1]

    def at_or_after(self, pos: int) -> int:
        return self.positions[bisect_left(self.positions, pos)]


@lru_cache(maxsize=256)
def edges(text: str) -> Edges:
    """``Edges(text)``, shared by equal texts (a record's correct answers are often copies of one)."""
    return Edges(text)


@dataclass
class Tokens:
    """A response as token ids, with the character span of every token."""

    ids: list[int]
    starts: list[int]
    ends: list[int]
    length: int

    @classmethod
    def encode_all(cls, tokenizer, texts: list[str]) -> list[Tokens]:
        """Every text's tokens, in one call of a fast Hugging Face tokenizer (no special tokens)."""
        if not texts:
            return []
        # The Rust tokenizer behind the fast tokenizer: the same encodings, without the Python wrapping.
        encodings = tokenizer.backend_tokenizer.encode_batch(texts, add_special_tokens=False)
        out = []
        for text, enc in zip(texts, encodings):
            starts, ends = (list(x) for x in zip(*enc.offsets)) if enc.offsets else ([], [])
            tokens = cls(enc.ids, starts, ends, len(text))
            tokens._check_tiling(text)
            out.append(tokens)
        return out

    def _check_tiling(self, text: str) -> None:
        # Token boundaries are mapped to text positions through the offsets, so they
        # must cover the text without gaps (tokens inside one character may overlap).
        n = len(self.ids)
        gaps = n and (self.starts[0] != 0 or self.ends[-1] != self.length)
        gaps = gaps or not all(map(operator.le, self.starts[1:], self.ends))
        if gaps or (not n and text):
            raise FdpoError(
                "the tokenizer's offsets do not cover the text without gaps (offsets trimmed?); "
                f"use a byte-level BPE tokenizer or leave out --tokenizer (text: {text[:40]!r})"
            )

    def at(self, k: int) -> int | None:
        """Character position of the boundary before token ``k``; None where it falls inside a character."""
        if k <= 0:
            return 0
        if k >= len(self.ids):
            return self.length
        return self.starts[k] if self.ends[k - 1] <= self.starts[k] else None

    def boundary_at_or_before(self, pos: int, max_tokens: int) -> int:
        """The last clean boundary at or before character ``pos`` that ends at most ``max_tokens`` tokens."""
        k = min(max_tokens, bisect_right(self.starts, pos) - 1 if pos < self.length else len(self.ids))
        while self.at(k) is None or self.at(k) > pos:
            k -= 1
        return self.at(k)

    def boundary_at_or_after(self, pos: int, max_tokens: int) -> int:
        """The first clean boundary at or after ``pos`` that leaves at most ``max_tokens`` tokens after it."""
        n = len(self.ids)
        k = max(n - max_tokens, bisect_left(self.starts, pos))
        while self.at(k) is None or self.at(k) < pos:
            k += 1
        return self.at(k)


@dataclass(frozen=True)
class TokenCut:
    """A token-level cut: ``cut`` in characters, plus how many tokens each shared part spans."""

    cut: Cut
    prefix_tokens: int
    suffix_tokens: int


def token_cut(chosen: Tokens, rejected: Tokens) -> TokenCut:
    """Longest common prefix / suffix of the token ids, moved off boundaries inside a character."""
    k = common_prefix_len(chosen.ids, rejected.ids)
    while chosen.at(k) is None or rejected.at(k) is None:
        k -= 1
    limit = min(len(chosen.ids), len(rejected.ids)) - k
    m = common_suffix_len(chosen.ids, rejected.ids, limit)
    while chosen.at(len(chosen.ids) - m) is None or rejected.at(len(rejected.ids) - m) is None:
        m -= 1
    prefix = chosen.at(k)
    suffix = chosen.length - chosen.at(len(chosen.ids) - m)
    return TokenCut(Cut(prefix, suffix), k, m)


class ByteOffsets:
    """Character ↔ UTF-8 byte positions of one text (tree-sitter counts bytes).

    Each conversion encodes or decodes the text up to the position (in C), which
    is cheaper than a table when only a few positions of a text are converted.
    """

    def __init__(self, text: str, data: bytes) -> None:
        self.ascii = len(text) == len(data)
        self.text, self.data = text, data

    def to_byte(self, char: int) -> int:
        return char if self.ascii else len(self.text[:char].encode("utf-8", "surrogatepass"))

    def to_char(self, byte: int) -> int:
        """The character at ``byte``, which must be a character boundary (node boundaries are)."""
        return byte if self.ascii else len(self.data[:byte].decode("utf-8", "surrogatepass"))
