"""Preference pairs from a ranked record: the error-prone point of each (correct, incorrect) pair.

Covers cutting each pair into shared prefix / mids / shared suffix (on token
ids, or on characters ending on Python token boundaries of both responses),
scoring pairs by Diff, deduplicating and selecting them, abstaining on records
ranked with low confidence, optionally rejecting candidates whose code did not
load, snapping the chosen pairs' mids to syntax while the prefix and suffix stay
identical on both sides, and writing pair records (``docs/locate.md``). Does
not cover ranking (``fdpo.ranking``) or the Phi statistics (``fdpo.locating.phi``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from fdpo.jsonl import repeat_key
from fdpo.locating.snap import Syntax
from fdpo.locating.spans import Cut, Edges, Tokens, char_cut, edges, token_cut
from fdpo.stage import occurrence

Record = dict[str, Any]

LAMBDA = 1.0
#: Records whose ``ranking.confidence`` is below this give no pair (``--min-confidence``; 0 turns
#: abstention off). Chosen on the benchmarks of docs/rank.md: with `fdpo rank`'s default the
#: correct group must lead the runner-up by 1 candidate in 10 (2 in 20).
MIN_CONFIDENCE = 0.05


@dataclass
class Side:
    """One response of a record, shared by its pairs: its tokens, and its syntax and Python token edges (made when first needed)."""

    id: Any
    text: str
    code: str | None
    score: float
    lead: str = ""  # the text the response continues
    loaded: bool = True  # False: a candidate in ``ranking.unloaded`` (--reject-unloaded)
    tokens: Tokens | None = None
    _syntax: Syntax | None = field(default=None, repr=False)
    _edges: Edges | None = field(default=None, repr=False)

    @property
    def syntax(self) -> Syntax:
        if self._syntax is None:
            # A loaded candidate's code ran, so it is known to compile; an unloaded one's is checked.
            self._syntax = Syntax(self.text, self.code, self.lead, code_loaded=self.loaded)
        return self._syntax

    @property
    def edges(self) -> Edges:
        if self._edges is None:
            self._edges = edges(self.text)
        return self._edges

    def boundary_at_or_before(self, pos: int, max_tokens: int | None) -> int:
        """The last token boundary at or before ``pos``: the policy's tokens when matched on them, else Python's."""
        if max_tokens is None:
            return self.edges.at_or_before(pos)
        return self.tokens.boundary_at_or_before(pos, max_tokens)

    def boundary_at_or_after(self, pos: int, max_tokens: int | None) -> int:
        if max_tokens is None:
            return self.edges.at_or_after(pos)
        return self.tokens.boundary_at_or_after(pos, max_tokens)


@dataclass
class Pair:
    chosen: Side
    rejected: Side
    cut: Cut
    prefix_tokens: int | None  # token-level limits on how far the shared parts may reach (None: on characters)
    suffix_tokens: int | None
    rank_gap: float
    shared: float
    diff: float
    snap: dict[str, str] = field(default_factory=lambda: {"chosen": "none", "rejected": "none"})


def align(c: Side, r: Side, prefix: int, suffix: int, prefix_tokens: int | None, suffix_tokens: int | None) -> Cut:
    """The longest prefix <= ``prefix`` and suffix <= ``suffix`` that end on a token boundary of both sides.

    With a tokenizer the boundaries are the policy's, inside the shared token
    runs; without one, Python's (``fdpo.locating.spans.Edges``), so that no token is
    split between a shared part and a mid. Whether a position is a boundary
    depends on the text after it (or before it), which differs between the
    sides: both are asked until they agree.
    """
    while True:
        p = min(s.boundary_at_or_before(prefix, prefix_tokens) for s in (c, r))
        q = min(len(s.text) - s.boundary_at_or_after(len(s.text) - suffix, suffix_tokens) for s in (c, r))
        if (p, q) == (prefix, suffix):
            return Cut(p, q)
        prefix, suffix = p, q


def cut_pair(chosen: Side, rejected: Side, by_tokens: bool) -> tuple[Cut, int | None, int | None]:
    if not by_tokens:
        raw = char_cut(chosen.text, rejected.text)
        return align(chosen, rejected, raw.prefix, raw.suffix, None, None), None, None
    tc = token_cut(chosen.tokens, rejected.tokens)
    if chosen.text[: tc.cut.prefix] != rejected.text[: tc.cut.prefix]:
        raise ValueError("equal token ids decode to different text: the tokenizer is not lossless")
    return tc.cut, tc.prefix_tokens, tc.suffix_tokens


def snap_pair(pair: Pair) -> None:
    """Widen both mids to syntax boundaries until neither side moves the shared parts any more.

    Each side may want a shorter prefix or suffix; the shorter one is applied to
    both, so the prefix and suffix texts stay identical, and each is then
    shortened to a token boundary shared by both sides (``align``).
    """
    c, r = pair.chosen, pair.rejected
    prefix, suffix = pair.cut.prefix, pair.cut.suffix
    while True:
        (ca, cb), pair.snap["chosen"] = c.syntax.snap(prefix, len(c.text) - suffix)
        (ra, rb), pair.snap["rejected"] = r.syntax.snap(prefix, len(r.text) - suffix)
        new_prefix = min(ca, ra)
        new_suffix = min(len(c.text) - cb, len(r.text) - rb)
        new = align(c, r, new_prefix, new_suffix, pair.prefix_tokens, pair.suffix_tokens)
        if (new.prefix, new.suffix) == (prefix, suffix):
            break
        prefix, suffix = new.prefix, new.suffix
    pair.cut = Cut(prefix, suffix)


def response_prompt(record: Record) -> str:
    """The exact text the responses continue: the sampled code prompt when stored, else the problem prompt."""
    sampled = (record.get("sampling") or {}).get("code_prompt")
    return sampled if isinstance(sampled, str) else record.get("prompt", "")


def _sides(record: Record, ids: list, tokenizer, unloaded: frozenset = frozenset()) -> list[Side]:
    """The ``Side`` of each candidate id; ValueError naming what is missing when the record and its ranking disagree."""
    candidates, scores, lead = record.get("candidates"), record["ranking"].get("code_scores"), response_prompt(record)
    if not isinstance(candidates, list):
        raise ValueError("record has no 'candidates' list")
    if not isinstance(scores, list) or len(scores) != len(candidates):
        got = f"{len(scores)} scores" if isinstance(scores, list) else "no list"
        raise ValueError(f"ranking.code_scores has {got} for the record's {len(candidates)} candidates")
    index = {(c.get("id", i) if isinstance(c, dict) else i): i for i, c in enumerate(candidates)}
    sides = []
    for cid in ids:
        if not _hashable(cid) or cid not in index:
            known = ", ".join(map(repr, list(index)[:8])) + (", …" if len(index) > 8 else "")
            raise ValueError(f"the ranking names candidate {cid!r}, which is not among the record's candidates ({known})")
        cand, score = candidates[index[cid]], scores[index[cid]]
        if not isinstance(cand, dict) or not isinstance(cand.get("response"), str):
            raise ValueError(f"candidate {cid!r} has no 'response' text")
        if isinstance(score, bool) or not isinstance(score, (int, float)):
            raise ValueError(f"ranking.code_scores gives candidate {cid!r} the score {score!r}, not a number")
        sides.append(Side(cid, cand["response"], cand.get("code"), score, lead, loaded=cid not in unloaded))
    if tokenizer is not None:
        for side, tokens in zip(sides, Tokens.encode_all(tokenizer, [s.text for s in sides])):
            side.tokens = tokens
    return sides


def _hashable(value: Any) -> bool:
    try:
        hash(value)
    except TypeError:
        return False
    return True


def rejectable_ids(ranking: dict, reject_unloaded: bool) -> list:
    """The candidates that may be rejected: the incorrect ones, then (``reject_unloaded``) those whose code did not load."""
    return (ranking.get("incorrect") or []) + ((ranking.get("unloaded") or []) if reject_unloaded else [])


def candidate_pairs(record: Record, *, tokenizer=None, lam: float = LAMBDA, reject_unloaded: bool = False) -> list[Pair]:
    """Every distinct (correct, rejectable) pair with a non-empty mid, best Diff first."""
    ranking = record["ranking"]
    correct_ids = ranking.get("correct") or []
    unloaded = frozenset(ranking.get("unloaded") or []) if reject_unloaded else frozenset()
    sides = _sides(record, correct_ids + rejectable_ids(ranking, reject_unloaded), tokenizer, unloaded)
    correct, rejectable = sides[: len(correct_ids)], sides[len(correct_ids) :]
    spread = max(s.score for s in sides) - min(s.score for s in sides) if sides else 0.0
    pairs, seen = [], set()
    for chosen in correct:
        for rejected in rejectable:
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
    n = occurrence(record)  # the n-th record with this id in the input: "{pid}#{n}:…", so pair ids stay unique
    return {
        "id": f"{pid}{f'#{n}' if n > 1 else ''}:{c.id}>{r.id}",
        "problem_id": pid,
        "prompt": prompt,
        "chosen": c.text,
        "rejected": r.text,
        "spans": {"chosen": pair.cut.spans(len(c.text)), "rejected": pair.cut.spans(len(r.text))},
        "diff": {"value": round(pair.diff, 6), "rank_gap": round(pair.rank_gap, 6), "shared": round(pair.shared, 6), "lambda": lam},
        "chosen_id": c.id,
        "rejected_id": r.id,
        "locate": {
            "match": "tokens" if by_tokens else "chars",
            "snap": dict(pair.snap),
            "rejected_label": "incorrect" if r.loaded else "unloaded",
        },
    }


def problem_key(pair: Record) -> Any:
    """The input record a pair came from, as ``--resume`` counts them: ``repeat_key(problem_id, n)``."""
    pid = pair.get("problem_id", pair.get("id"))
    mark, text = f"{pid}#", str(pair.get("id", ""))
    if "problem_id" in pair and text.startswith(mark):
        n = text[len(mark):].split(":", 1)[0]
        if n.isdigit():
            return repeat_key(pid, int(n))
    return pid


def confidence(ranking: dict) -> float:
    """``ranking.confidence``; 1.0 where it is absent or null (files ranked before `fdpo rank` wrote it)."""
    value = ranking.get("confidence")
    if value is None:
        return 1.0
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"ranking.confidence is {value!r}, not a number")
    return float(value)


def no_pair_reason(record: Record, *, reject_unloaded: bool = False, min_confidence: float | None = None) -> str | None:
    """Why a ranked record gives no pair at all, or None if it may.

    The labels come first (a record without both sides cannot give a pair,
    however confident), then the ranking's confidence (``MIN_CONFIDENCE`` when
    ``min_confidence`` is None).
    """
    ranking = record.get("ranking")
    if not isinstance(ranking, dict):
        raise ValueError("record has no ranking: run `fdpo rank` first")
    if not (ranking.get("correct") and rejectable_ids(ranking, reject_unloaded)):
        return ranking.get("reason") or ("no correct candidate" if not ranking.get("correct") else "no incorrect candidate")
    threshold = MIN_CONFIDENCE if min_confidence is None else min_confidence
    if threshold > 0 and confidence(ranking) < threshold:  # 0: abstention off, whatever the value
        return "low confidence"
    return None


def locate_record(
    record: Record,
    *,
    tokenizer=None,
    snap: bool = True,
    lam: float = LAMBDA,
    per_problem: int = 1,
    reject_unloaded: bool = False,
    min_confidence: float | None = None,
) -> tuple[list[Record], list[Pair], str | None]:
    """The pair records of one ranked record, the pairs behind them, and why there are none if so."""
    reason = no_pair_reason(record, reject_unloaded=reject_unloaded, min_confidence=min_confidence)
    if reason:
        return [], [], reason
    chosen = candidate_pairs(record, tokenizer=tokenizer, lam=lam, reject_unloaded=reject_unloaded)[:per_problem]
    if not chosen:
        return [], [], "only identical responses"
    if snap:
        for pair in chosen:
            snap_pair(pair)
    prompt = response_prompt(record)
    by_tokens = tokenizer is not None
    return [pair_record(record, p, prompt, lam, by_tokens) for p in chosen], chosen, None
