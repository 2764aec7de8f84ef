"""Pairs file → token ids with segments → padded batches.

Covers reading and checking pairs (a bad line is a ``line N`` error; pairs whose
chosen equals rejected are counted and left out), rendering a
prompt given as chat messages, tokenising prompt and response *separately* and
concatenating the ids (so the response tokens are exactly the response, as
``fdpo locate --tokenizer`` assumes), ``--max-length`` truncation, and collating
pairs into one row each (prompt and shared token prefix computed once, chosen and
rejected continuations side by side under a branch-aware attention mask), with
per-token weights and the rejected continuation cut after its last weighted token. Does not cover the loss (see ``fdpo.training.loss``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fdpo.errors import FdpoError
from fdpo.jsonl import InvalidLine, iter_lines, open_input, parse_line
from fdpo.training.weights import MID, NONE, SUFFIX, Weighting, token_segments


@dataclass(frozen=True)
class Pair:
    """One preference pair as read; ``spans`` maps chosen/rejected to (mid start, mid end)."""

    lineno: int
    prompt: str | list[dict[str, Any]]
    chosen: str
    rejected: str
    spans: dict[str, tuple[int, int]] | None


@dataclass(frozen=True)
class TokenizedPair:
    prompt: list[int]
    chosen: list[int]
    chosen_segments: list[int]
    rejected: list[int]
    rejected_segments: list[int]
    has_spans: bool

    def ids_and_segments(self) -> tuple:
        """Everything that determines the pair's log-probs, for cache keys."""
        return (self.prompt, self.chosen, self.chosen_segments, self.rejected, self.rejected_segments)


def read_pairs(path: str | Path | None) -> list[Pair]:
    """All pairs of a file (``None`` or ``-`` is stdin); the first bad line stops with its number."""
    stream = open_input(path)
    try:
        pairs = [_check(parse_line(line, n), n) for n, line in iter_lines(stream)]
    finally:
        if path not in (None, "-"):
            stream.close()
    if not pairs:
        raise FdpoError(f"{path or 'stdin'}: no pairs to train on")
    return pairs


def drop_identical(pairs: list[Pair]) -> tuple[list[Pair], int]:
    """The pairs whose chosen and rejected texts differ, and how many were the same
    (a pair without a difference has no preference to learn: both rewards are equal)."""
    kept = [p for p in pairs if p.chosen != p.rejected]
    return kept, len(pairs) - len(kept)


def _check(record: dict, lineno: int) -> Pair:
    for key in ("prompt", "chosen", "rejected"):
        if key not in record:
            raise InvalidLine(lineno, f"missing {key!r} (a pair needs prompt, chosen and rejected)")
    prompt = record["prompt"]
    if not (isinstance(prompt, str) or _is_messages(prompt)):
        raise InvalidLine(lineno, "'prompt' must be a string or a list of {role, content} messages")
    for key in ("chosen", "rejected"):
        if not isinstance(record[key], str):
            raise InvalidLine(lineno, f"{key!r} must be a string")
    spans = record.get("spans")
    if spans is not None:
        spans = {side: _mid_span(spans, side, record[side], lineno) for side in ("chosen", "rejected")}
    return Pair(lineno, prompt, record["chosen"], record["rejected"], spans)


def _is_messages(value: Any) -> bool:
    return (
        isinstance(value, list)
        and bool(value)
        and all(isinstance(m, dict) and "role" in m and "content" in m for m in value)
    )


def _mid_span(spans: Any, side: str, response: str, lineno: int) -> tuple[int, int]:
    """(mid start, mid end) after checking that prefix, mid and suffix tile ``response``."""
    try:
        (p0, p1), (m0, m1), (s0, s1) = (spans[side][k] for k in ("prefix", "mid", "suffix"))
        bounds = [int(x) for x in (p0, p1, m0, m1, s0, s1)]
    except (KeyError, TypeError, ValueError):
        raise InvalidLine(lineno, f"spans.{side} needs prefix, mid and suffix as [start, end]") from None
    p0, p1, m0, m1, s0, s1 = bounds
    if not (p0 == 0 and p1 == m0 and m1 == s0 and s1 == len(response) and 0 <= m0 <= m1 <= s1):
        raise InvalidLine(
            lineno,
            f"spans.{side} {bounds[0:2]}, {bounds[2:4]}, {bounds[4:6]} do not tile the "
            f"{len(response)}-character response",
        )
    return m0, m1


def render_prompt(prompt: str | list[dict], tokenizer) -> str:
    if isinstance(prompt, str):
        return prompt
    if not tokenizer.chat_template:
        raise FdpoError("a pair's prompt is a list of chat messages but the tokenizer has no chat template")
    return tokenizer.apply_chat_template(prompt, tokenize=False, add_generation_prompt=True)


def encode_prompt(text: str, tokenizer) -> list[int]:
    # As vLLM does for a text prompt: add the tokenizer's specials (BOS) unless the
    # text already carries them, as rendered chat templates do.
    bos = tokenizer.bos_token
    already = bool(bos) and text.startswith(bos)
    return tokenizer(text, add_special_tokens=not already)["input_ids"]


def encode_response(text: str, mid: tuple[int, int] | None, tokenizer) -> tuple[list[int], list[int]]:
    """Token ids of ``text`` alone plus EOS, and each token's segment.

    Without spans every token (EOS too) is mid, which plain DPO weights 1 like the rest.
    """
    try:
        enc = tokenizer(text, add_special_tokens=False, return_offsets_mapping=mid is not None)
    except NotImplementedError:
        raise FdpoError("spans need token offsets, which only fast (Rust) tokenizers give") from None
    ids = list(enc["input_ids"]) + [tokenizer.eos_token_id]
    if mid is None:
        return ids, [MID] * len(ids)
    return ids, token_segments(enc["offset_mapping"], *mid) + [SUFFIX]


def tokenize_pair(pair: Pair, tokenizer, max_length: int) -> tuple[TokenizedPair, bool]:
    """The pair as ids and segments, and whether it had to be truncated to ``max_length``."""
    prompt = encode_prompt(render_prompt(pair.prompt, tokenizer), tokenizer)
    if not prompt:
        raise InvalidLine(pair.lineno, "the prompt is empty: the first response token needs a context")
    spans = pair.spans or {}
    chosen, chosen_seg = encode_response(pair.chosen, spans.get("chosen"), tokenizer)
    rejected, rejected_seg = encode_response(pair.rejected, spans.get("rejected"), tokenizer)
    longest = max(len(chosen), len(rejected))
    truncated = len(prompt) + longest > max_length
    if truncated:
        # Responses keep at least half the budget; the prompt loses its oldest tokens first.
        response_budget = min(longest, max(max_length - len(prompt), max_length // 2))
        prompt = prompt[len(prompt) - min(len(prompt), max_length - response_budget):]
        keep = max_length - len(prompt)
        chosen, chosen_seg = chosen[:keep], chosen_seg[:keep]
        rejected, rejected_seg = rejected[:keep], rejected_seg[:keep]
    return TokenizedPair(prompt, chosen, chosen_seg, rejected, rejected_seg, pair.spans is not None), truncated


@dataclass
class Batch:
    """One row per pair: ``[left pad | prompt | shared | chosen rest | rejected rest | pad]``.

    The prompt and the token prefix that chosen and rejected share are computed once;
    the rejected continuation sits after the chosen one and sees, through the 4-D
    attention mask, the prompt and shared tokens but not the chosen rest, with
    positions that continue from the shared prefix. Token log-probs come out as
    ``[2B, R]``: B chosen rows then B rejected rows, each response token's logits
    read from the column that predicts it (``columns``, counted from ``prompt_len - 1``).
    """

    input_ids: Any  # [B, L]
    attention_mask: Any  # [B, 1, L, L] bool, True where a query may attend
    position_ids: Any  # [B, L]
    columns: Any  # [2B, R] column whose logits predict each response token
    labels: Any  # [2B, R] response token ids
    weights: Any  # [2B, R] per-token weight, 0 on padding
    segments: Any  # [2B, R] segment id, NONE on padding
    segment_weights: Any  # [2B, 3]
    prompt_len: int  # P: every prompt ends at column P - 1
    tokens: int  # real (non-padding) tokens in the rows

    def to(self, device) -> Batch:
        moved = {k: (v.to(device) if hasattr(v, "to") else v) for k, v in vars(self).items()}
        return Batch(**moved)


def _trim(ids: list[int], segments: list[int], weights: tuple[float, ...]) -> tuple[list[int], list[int]]:
    """Cut after the last token with a non-zero weight: later tokens cannot change earlier log-probs."""
    keep = len(segments)
    while keep and weights[segments[keep - 1]] == 0.0:
        keep -= 1
    return ids[:keep], segments[:keep]


def _shared(a: list[int], b: list[int]) -> int:
    n = 0
    while n < min(len(a), len(b)) and a[n] == b[n]:
        n += 1
    return n


# Column kinds, for the attention mask.
_PAD, _CONTEXT, _REJECTED, _CHOSEN = 0, 1, 2, 3


@dataclass
class _Layout:
    """One pair's row (before padding) and, per response, where its tokens' logits are read."""

    row: list[int]
    positions: list[int]
    kinds: list[int]
    prompt_len: int
    # (columns, labels, segments, segment weights) for chosen, then rejected
    sides: tuple[tuple[list[int], list[int], list[int], tuple[float, ...]], ...]


def _layout(p: TokenizedPair, weighting: Weighting, trim: bool) -> _Layout:
    wc, wr = weighting.chosen(p.has_spans), weighting.rejected(p.has_spans)
    c, c_seg = p.chosen, p.chosen_segments
    r, r_seg = _trim(p.rejected, p.rejected_segments, wr) if trim else (p.rejected, p.rejected_segments)
    sh, n = _shared(c, r), len(p.prompt)
    # Columns count from the last prompt column. Chosen token j sits right after column j, so
    # column j predicts it; so do the rejected tokens up to the first unshared one. Rejected
    # token j > sh follows rejected token j - 1, placed after the chosen rest: column len(c) + j - sh.
    r_columns = [j if j <= sh else len(c) + j - sh for j in range(len(r))]
    return _Layout(
        row=p.prompt + c + r[sh:],
        positions=list(range(n + len(c))) + list(range(n + sh, n + len(r))),
        kinds=[_CONTEXT] * (n + sh) + [_CHOSEN] * (len(c) - sh) + [_REJECTED] * (len(r) - sh),
        prompt_len=n,
        sides=((list(range(len(c))), c, c_seg, wc), (r_columns, r, r_seg, wr)),
    )


def _pad(rows: list[list[int]], width: int, fill: int, starts: list[int] | None = None):
    import torch

    out = torch.full((len(rows), width), fill, dtype=torch.long)
    for i, row in enumerate(rows):
        start = starts[i] if starts else 0
        out[i, start : start + len(row)] = torch.tensor(row, dtype=torch.long)
    return out


def collate(pairs: list[TokenizedPair], weighting: Weighting, trim: bool = True) -> Batch:
    import torch

    layouts = [_layout(p, weighting, trim) for p in pairs]
    P = max(x.prompt_len for x in layouts)
    L = P + max(len(x.row) - x.prompt_len for x in layouts)
    starts = [P - x.prompt_len for x in layouts]  # left padding: every prompt ends at column P - 1
    kinds = _pad([x.kinds for x in layouts], L, _PAD, starts)
    sides = [x.sides[0] for x in layouts] + [x.sides[1] for x in layouts]  # B chosen, then B rejected
    R = max(len(side[1]) for side in sides)
    segments = _pad([side[2] for side in sides], R, NONE)
    segment_weights = torch.tensor([side[3] for side in sides], dtype=torch.float32)
    causal = torch.ones(L, L, dtype=torch.bool).tril()
    mask = causal & (kinds != _PAD)[:, None, :] & ~((kinds == _REJECTED)[:, :, None] & (kinds == _CHOSEN)[:, None, :])
    mask |= torch.eye(L, dtype=torch.bool)  # padding queries see themselves: no all-masked row, no NaN
    return Batch(
        input_ids=_pad([x.row for x in layouts], L, 0, starts),
        attention_mask=mask[:, None],
        position_ids=_pad([x.positions for x in layouts], L, 0, starts),
        columns=_pad([side[0] for side in sides], R, 0),
        labels=_pad([side[1] for side in sides], R, 0),
        weights=torch.where(segments >= 0, segment_weights.gather(1, segments.clamp(min=0)), 0.0),
        segments=segments,
        segment_weights=segment_weights,
        prompt_len=P,
        tokens=sum(len(x.row) for x in layouts),
    )
