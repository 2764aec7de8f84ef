"""Preference pairs from a ranked record: the error-prone point of each (correct, incorrect) pair.

Covers cutting each pair into shared prefix / mids / shared suffix (on
characters or token ids), scoring pairs by Diff, deduplicating and selecting
them, snapping the chosen pairs' mids to syntax while the prefix and suffix stay
identical on both sides, and writing pair records (``docs/locate.md``). Does
not cover ranking (``fdpo.ranking``) or the Phi statistics (``fdpo.phi``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from fdpo.snap import Syntax
from fdpo.spans import Cut, Tokens, char_cut, token_cut

Record = dict[str, Any]

LAMBDA = 1.0


@dataclass
class Side:
    """One response of a record, with its tokens and (parsed when first needed) syntax, shared by its pairs."""

    id: Any
    text: str
    code: str | None
    score: float
    lead: str = ""  # the text the response continues
    tokens: Tokens | None = None
    _syntax: Syntax | None = field(default=None, repr=False)

    @property
    def syntax(self) -> Syntax:
        if self._syntax is None:
            # Sides are correct or incorrect candidates, so their code loaded.
            self._syntax = Syntax(self.text, self.code, self.lead, code_loaded=True)
        return self._syntax


@dataclass
class Pair:
    chosen: Side
    rejected: Side
    cut: Cut
    prefix_tokens: int | None  # token-level limits on how far snapping may keep the shared parts
    suffix_tokens: int | None
    rank_gap: float
    shared: float
    diff: float
    snap: dict[str, str] = field(default_factory=lambda: {"chosen": "none", "rejected": "none"})


def cut_pair(chosen: Side, rejected: Side, by_tokens: bool) -> tuple[Cut, int | None, int | None]:
    if not by_tokens:
        return char_cut(chosen.text, rejected.text), None, None
    tc = token_cut(chosen.tokens, rejected.tokens)
    if chosen.text[: tc.cut.prefix] != rejected.text[: tc.cut.prefix]:
        raise ValueError("equal token ids decode to different text: the tokenizer is not lossless")
    return tc.cut, tc.prefix_tokens, tc.suffix_tokens


def snap_pair(pair: Pair) -> None:
    """Widen both mids to syntax boundaries until neither side moves the shared parts any more.

    Each side may want a shorter prefix or suffix; the shorter one is applied to
    both, so the prefix and suffix texts stay identical, and with a tokenizer
    each is then shortened to a token boundary shared by both sides.
    """
    c, r = pair.chosen, pair.rejected
    prefix, suffix = pair.cut.prefix, pair.cut.suffix
    while True:
        (ca, cb), pair.snap["chosen"] = c.syntax.snap(prefix, len(c.text) - suffix)
        (ra, rb), pair.snap["rejected"] = r.syntax.snap(prefix, len(r.text) - suffix)
        new_prefix = min(ca, ra)
        new_suffix = min(len(c.text) - cb, len(r.text) - rb)
        if pair.prefix_tokens is not None:
            # Whether a boundary splits a character depends on the token after it
            # (or before it), which differs between the sides: ask both.
            new_prefix = min(s.tokens.boundary_at_or_before(new_prefix, pair.prefix_tokens) for s in (c, r))
            new_suffix = min(
                len(s.text) - s.tokens.boundary_at_or_after(len(s.text) - new_suffix, pair.suffix_tokens) for s in (c, r)
            )
        if (new_prefix, new_suffix) == (prefix, suffix):
            break
        prefix, suffix = new_prefix, new_suffix
    pair.cut = Cut(prefix, suffix)


def response_prompt(record: Record) -> str:
    """The exact text the responses continue: the sampled code prompt when stored, else the problem prompt."""
    sampled = (record.get("sampling") or {}).get("code_prompt")
    return sampled if isinstance(sampled, str) else record.get("prompt", "")


def _sides(record: Record, ids: list, tokenizer) -> list[Side]:
    scores, lead = record["ranking"]["code_scores"], response_prompt(record)
    index = {c.get("id", i): i for i, c in enumerate(record.get("candidates") or [])}
    sides = []
    for cid in ids:
        cand = record["candidates"][index[cid]]
        sides.append(Side(cid, cand["response"], cand.get("code"), scores[index[cid]], lead))
    if tokenizer is not None:
        for side, tokens in zip(sides, Tokens.encode_all(tokenizer, [s.text for s in sides])):
            side.tokens = tokens
    return sides


def candidate_pairs(record: Record, *, tokenizer=None, lam: float = LAMBDA) -> list[Pair]:
    """Every distinct (correct, incorrect) pair with a non-empty mid, best Diff first."""
    ranking = record["ranking"]
    correct_ids = ranking.get("correct") or []
    loaded = _sides(record, correct_ids + (ranking.get("incorrect") or []), tokenizer)
    correct, incorrect = loaded[: len(correct_ids)], loaded[len(correct_ids) :]
    spread = max(s.score for s in loaded) - min(s.score for s in loaded) if loaded else 0.0
    pairs, seen = [], set()
    for chosen in correct:
        for rejected in incorrect:
            if chosen.text == rejected.text or (chosen.text, rejected.text) in seen:
                continue
            seen.add((chosen.text, rejected.text))
            cut, ptok, stok = cut_pair(chosen, rejected, tokenizer is not None)
            gap = (chosen.score - rejected.score) / spread if spread > 0 else 0.0
            shared = (cut.prefix + cut.suffix) / max(len(chosen.text), len(rejected.text))
            pairs.append(Pair(chosen, rejected, cut, ptok, stok, gap, shared, gap + lam * shared))
    pairs.sort(key=lambda p: -p.diff)  # stable: equal Diff keeps rank order
    return pairs


def pair_record(record: Record, pair: Pair, prompt: str, lam: float, by_tokens: bool) -> Record:
    pid = record.get("id")
    c, r = pair.chosen, pair.rejected
    return {
        "id": f"{pid}:{c.id}>{r.id}",
        "problem_id": pid,
        "prompt": prompt,
        "chosen": c.text,
        "rejected": r.text,
        "spans": {"chosen": pair.cut.spans(len(c.text)), "rejected": pair.cut.spans(len(r.text))},
        "diff": {"value": round(pair.diff, 6), "rank_gap": round(pair.rank_gap, 6), "shared": round(pair.shared, 6), "lambda": lam},
        "chosen_id": c.id,
        "rejected_id": r.id,
        "locate": {"match": "tokens" if by_tokens else "chars", "snap": dict(pair.snap)},
    }


def no_pair_reason(record: Record) -> str | None:
    """Why a ranked record can give no pair at all, or None if it may."""
    ranking = record.get("ranking")
    if not isinstance(ranking, dict):
        raise ValueError("record has no ranking: run `fdpo rank` first")
    if ranking.get("correct") and ranking.get("incorrect"):
        return None
    return ranking.get("reason") or ("no correct candidate" if not ranking.get("correct") else "no incorrect candidate")


def locate_record(
    record: Record, *, tokenizer=None, snap: bool = True, lam: float = LAMBDA, per_problem: int = 1
) -> tuple[list[Record], list[Pair], str | None]:
    """The pair records of one ranked record, the pairs behind them, and why there are none if so."""
    reason = no_pair_reason(record)
    if reason:
        return [], [], reason
    chosen = candidate_pairs(record, tokenizer=tokenizer, lam=lam)[:per_problem]
    if not chosen:
        return [], [], "only identical responses"
    if snap:
        for pair in chosen:
            snap_pair(pair)
    prompt = response_prompt(record)
    by_tokens = tokenizer is not None
    return [pair_record(record, p, prompt, lam, by_tokens) for p in chosen], chosen, None
