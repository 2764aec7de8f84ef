"""Character spans → per-token segments, and the weight of each segment.

Covers assigning every response token to prefix / mid / suffix from the pair's
``[start, end)`` character spans through the tokenizer's offsets (a token that
straddles a boundary goes to mid), and the per-segment weights that make
Focused-DPO, plain DPO and the ablations one computation. Does not cover
tokenising or batching (see ``fdpo.training.data``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

PREFIX, MID, SUFFIX = 0, 1, 2
SEGMENTS = ("prefix", "mid", "suffix")
#: Marks positions that belong to no response segment (padding).
NONE = -1


def token_segments(offsets: Sequence[tuple[int, int]], mid_start: int, mid_end: int) -> list[int]:
    """The segment of each token whose character span is ``offsets[i]``.

    A token lies in the prefix only when it ends at or before ``mid_start`` and in
    the suffix only when it starts at or after ``mid_end``; everything else, the
    tokens that straddle a boundary included, is mid.
    """
    segments = []
    for start, end in offsets:
        if start < mid_start and end <= mid_start:
            segments.append(PREFIX)
        elif start >= mid_end:
            segments.append(SUFFIX)
        else:
            segments.append(MID)
    return segments


@dataclass(frozen=True)
class Weighting:
    """Weights of (prefix, mid, suffix) for chosen and rejected responses.

    ``w_focused`` weights the chosen mid, and the rejected mid too when
    ``weight_rejected_mid``; ``rejected_suffix`` is ``"drop"`` (weight 0) or
    ``"keep"`` (weight 1). ``focus=False`` is plain DPO on the same pairs, and so
    is every pair that has no spans.
    """

    w_focused: float = 2.0
    weight_rejected_mid: bool = True
    rejected_suffix: str = "drop"
    focus: bool = True

    def chosen(self, has_spans: bool) -> tuple[float, float, float]:
        if not (self.focus and has_spans):
            return (1.0, 1.0, 1.0)
        return (1.0, self.w_focused, 1.0)

    def rejected(self, has_spans: bool) -> tuple[float, float, float]:
        if not (self.focus and has_spans):
            return (1.0, 1.0, 1.0)
        mid = self.w_focused if self.weight_rejected_mid else 1.0
        return (1.0, mid, 0.0 if self.rejected_suffix == "drop" else 1.0)

    @property
    def drops_rejected_suffix(self) -> bool:
        return self.rejected(True)[SUFFIX] == 0.0
