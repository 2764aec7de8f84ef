"""``fdpo locate --stats``: how the located segments go with correctness (the paper's Phi analysis).

Covers counting, for every located pair, whether the other candidates of the
same problem start with its shared prefix, end with its shared suffix, start
with prefix + chosen mid or with prefix + rejected mid, next to whether they
are correct; the Phi coefficient of each 2 × 2 table; and the table on stderr /
JSON. Does not cover building the pairs (``fdpo.locating.pairs``).
"""

from __future__ import annotations

import math
from typing import Any

from rich.table import Table

from fdpo.locating.pairs import Pair

Record = dict[str, Any]

# Focused-DPO (arXiv 2502.11475), the correlation analysis of its section 2.
PAPER_PHI = {"prefix": 0.068, "suffix": 0.080, "prefix + chosen mid": 0.565, "prefix + rejected mid": -0.609}


def phi(table: list[list[int]]) -> float | None:
    """Phi coefficient of ``table[occurs][correct]``; None when a margin is empty."""
    (n00, n01), (n10, n11) = table
    margins = (n10 + n11) * (n00 + n01) * (n01 + n11) * (n00 + n10)
    return (n11 * n00 - n10 * n01) / math.sqrt(margins) if margins else None


def segments(pair: Pair) -> dict[str, tuple[str, bool]]:
    """Each segment's text and whether it is anchored at the end (the suffix) rather than the start."""
    c, r, cut = pair.chosen.text, pair.rejected.text, pair.cut
    return {
        "prefix": (c[: cut.prefix], False),
        "suffix": (c[len(c) - cut.suffix :], True),
        "prefix + chosen mid": (c[: len(c) - cut.suffix], False),
        "prefix + rejected mid": (r[: len(r) - cut.suffix], False),
    }


class PhiStats:
    """Accumulates the 2 × 2 tables over records; the pair's own two responses are left out."""

    def __init__(self) -> None:
        self.tables = {name: [[0, 0], [0, 0]] for name in PAPER_PHI}
        self.pairs = 0

    def add(self, record: Record, pairs: list[Pair]) -> None:
        ranking = record["ranking"]
        responses = {c.get("id", i): c["response"] for i, c in enumerate(record["candidates"])}
        labelled = [(cid, 1) for cid in ranking["correct"]] + [(cid, 0) for cid in ranking["incorrect"]]
        for pair in pairs:
            self.pairs += 1
            own = {pair.chosen.id, pair.rejected.id}
            others = [(responses[cid], label) for cid, label in labelled if cid not in own]
            for name, (text, at_end) in segments(pair).items():
                table = self.tables[name]
                for response, label in others:
                    occurs = response.endswith(text) if at_end else response.startswith(text)
                    table[occurs][label] += 1

    def result(self) -> dict[str, Any]:
        out: dict[str, Any] = {"pairs": self.pairs, "segments": {}}
        for name, table in self.tables.items():
            (n00, n01), (n10, n11) = table
            value = phi(table)
            out["segments"][name] = {
                "in_correct": n11,
                "correct": n01 + n11,
                "in_incorrect": n10,
                "incorrect": n00 + n10,
                "phi": None if value is None else round(value, 4),
                "paper_phi": PAPER_PHI[name],
            }
        return out

    def print(self, console) -> None:
        result = self.result()
        table = Table(title=f"Segments vs correctness over {result['pairs']} pairs (other candidates of each problem)")
        for column in ("segment", "in correct", "in incorrect", "Phi", "paper Phi"):
            table.add_column(column, justify="left" if column == "segment" else "right")
        for name, row in result["segments"].items():
            table.add_row(
                name,
                _rate(row["in_correct"], row["correct"]),
                _rate(row["in_incorrect"], row["incorrect"]),
                "—" if row["phi"] is None else f"{row['phi']:+.3f}",
                f"{row['paper_phi']:+.3f}",
            )
        console.print(table)


def _rate(k: int, n: int) -> str:
    return f"{k}/{n} ({100 * k / n:.0f}%)" if n else "0/0"
