"""fdpo train's data side: spans → token segments, weights, tokenising, truncation, batches, bad lines."""

from __future__ import annotations

import json

import pytest

from fdpo.errors import FdpoError
from fdpo.locating.spans import char_cut
from fdpo.training.config import TrainConfig, merge, read_yaml
from fdpo.training.data import Pair, collate, encode_response, read_pairs, tokenize_pair
from fdpo.training.weights import MID, NONE, PREFIX, SUFFIX, Weighting, token_segments

OPS = [("add", "+", "-"), ("sub", "-", "+"), ("mul", "*", "+"), ("div", "/", "*"), ("mod", "%", "//"), ("pow", "**", "*")]


def char_spans(chosen: str, rejected: str) -> dict:
    """Spans from the common character prefix and suffix, as `fdpo locate` writes them."""
    cut = char_cut(chosen, rejected)
    return {"chosen": cut.spans(len(chosen)), "rejected": cut.spans(len(rejected))}


def make_pairs(n: int = len(OPS)) -> list[dict]:
    """Small code pairs whose chosen and rejected differ in one operator."""
    pairs = []
    for i in range(n):
        name, good, bad = OPS[i % len(OPS)]
        prompt = f'def {name}{i}(a, b):\n    """Return a {name} b."""\n'
        chosen = f"    result = a {good} b\n    return result\n"
        rejected = f"    result = a {bad} b\n    return result\n"
        pairs.append(
            {
                "id": f"p{i}",
                "problem_id": f"{name}{i}",
                "prompt": prompt,
                "chosen": chosen,
                "rejected": rejected,
                "spans": char_spans(chosen, rejected),
                "diff": {},
            }
        )
    return pairs


def write_pairs(path, pairs) -> str:
    path.write_text("".join(json.dumps(p) + "\n" for p in pairs))
    return str(path)


@pytest.fixture(scope="module")
def tokenizer(tiny_model_dir):
    from fdpo.training.modelio import load_tokenizer

    return load_tokenizer(str(tiny_model_dir))


# -- spans → segments ---------------------------------------------------------------------


def test_a_token_straddling_a_boundary_goes_to_mid():
    # mid is characters [5, 7); tokens: [0,3) [3,6) straddles the start, [6,9) straddles the end.
    assert token_segments([(0, 3), (3, 6), (6, 9), (9, 12)], 5, 7) == [PREFIX, MID, MID, SUFFIX]


def test_tokens_on_the_boundaries_and_an_empty_mid():
    assert token_segments([(0, 5), (5, 7), (7, 9)], 5, 7) == [PREFIX, MID, SUFFIX]
    # An empty mid (an insertion) takes only the token that straddles it.
    assert token_segments([(0, 4), (4, 6), (6, 9)], 5, 5) == [PREFIX, MID, SUFFIX]
    assert token_segments([(0, 5), (5, 9)], 5, 5) == [PREFIX, SUFFIX]


def test_real_tokenizer_segments_cover_the_spans(tokenizer):
    chosen = "    if x % 2 == 1:\n        return 'odd'\n"
    rejected = "    if x % 2 == 0:\n        return 'odd'\n"
    spans = char_spans(chosen, rejected)["chosen"]
    ids, segments = encode_response(chosen, tuple(spans["mid"]), tokenizer)
    assert ids[-1] == tokenizer.eos_token_id and segments[-1] == SUFFIX
    text = {seg: tokenizer.decode([i for i, s in zip(ids[:-1], segments) if s == seg]) for seg in (0, 1, 2)}
    assert text[PREFIX] + text[MID] + text[SUFFIX] == chosen
    m0, m1 = spans["mid"]
    assert chosen[m0:m1] in text[MID]  # mid holds the differing character, whole tokens around it
    assert chosen.startswith(text[PREFIX]) and len(text[PREFIX]) <= m0
    assert chosen.endswith(text[SUFFIX]) and len(text[SUFFIX]) <= len(chosen) - m1


def test_response_tokens_are_the_response_alone(tokenizer):
    pair = Pair(1, "def f(x):\n", "    return x\n", "    return -x\n", None)
    tokenized, _ = tokenize_pair(pair, tokenizer, 1024)
    assert tokenized.prompt == tokenizer("def f(x):\n")["input_ids"]
    assert tokenized.chosen == tokenizer("    return x\n", add_special_tokens=False)["input_ids"] + [
        tokenizer.eos_token_id
    ]
    assert not tokenized.has_spans and set(tokenized.chosen_segments) == {MID}


def test_chat_messages_prompt_is_rendered_with_the_template(tokenizer):
    messages = [{"role": "user", "content": "Write add."}]
    pair = Pair(1, messages, "def add(a, b): return a + b", "def add(a, b): return a - b", None)
    tokenized, _ = tokenize_pair(pair, tokenizer, 1024)
    rendered = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    assert rendered.endswith("<|im_start|>assistant\n")
    assert tokenizer.decode(tokenized.prompt) == rendered


# -- weights ---------------------------------------------------------------------------------


def test_weightings():
    focused = Weighting()
    assert focused.chosen(True) == (1.0, 2.0, 1.0) and focused.rejected(True) == (1.0, 2.0, 0.0)
    assert Weighting(weight_rejected_mid=False).rejected(True) == (1.0, 1.0, 0.0)
    assert Weighting(rejected_suffix="keep").rejected(True) == (1.0, 2.0, 1.0)
    plain = Weighting(focus=False)
    assert plain.chosen(True) == plain.rejected(True) == (1.0, 1.0, 1.0)
    assert focused.chosen(False) == focused.rejected(False) == (1.0, 1.0, 1.0)  # no spans: plain DPO


def test_collate_puts_a_pair_in_one_row_sharing_prompt_and_prefix(tokenizer):
    spanned = tokenize_pair(Pair(1, **_fields(make_pairs(1)[0])), tokenizer, 1024)[0]
    plain = tokenize_pair(Pair(2, "x = 1  # " * 8 + "\n", "    a = 1\n", "    a = 22\n", None), tokenizer, 1024)[0]
    pairs = [spanned, plain]
    batch = collate(pairs, Weighting())
    P, B = batch.prompt_len, 2
    assert P == max(len(p.prompt) for p in pairs)
    for i, p in enumerate(pairs):
        rejected = batch.labels[B + i][batch.segments[B + i] != NONE].tolist()
        shared = next(k for k in range(len(rejected) + 1) if k == len(rejected) or rejected[k] != p.chosen[k])
        assert shared >= 1  # these pairs share their first response tokens
        n, c = len(p.prompt), len(p.chosen)
        row = batch.input_ids[i].tolist()
        # [pad | prompt | chosen | rejected after the shared tokens | pad], the prompt ending at column P - 1
        assert row[P - n : P] == p.prompt and row[P : P + c] == p.chosen
        assert row[P + c : P + c + len(rejected) - shared] == rejected[shared:]
        assert batch.attention_mask[i, 0, : P - n, : P - n].sum() == P - n  # left padding sees only itself
        positions = batch.position_ids[i].tolist()
        assert positions[P - n : P + c] == list(range(n + c))
        assert positions[P + c : P + c + len(rejected) - shared] == list(range(n + shared, n + len(rejected)))
        # The rejected branch sees the prompt and the shared tokens, never the chosen rest.
        first_rejected = P + c
        if len(rejected) > shared:
            sees = batch.attention_mask[i, 0, first_rejected]
            assert sees[P - n : P + shared].all() and not sees[P + shared : P + c].any()
        # Each label is read from the column (counted from P - 1) that precedes its token.
        assert batch.columns[i, :c].tolist() == list(range(c))
        assert batch.columns[B + i, : shared + 1].tolist() == list(range(shared + 1))
        rest = batch.columns[B + i, shared + 1 : len(rejected)].tolist()
        assert rest == list(range(c + 1, c + len(rejected) - shared))  # after its own previous token
    assert batch.labels[0, : len(spanned.chosen)].tolist() == spanned.chosen
    assert batch.weights[0, : len(spanned.chosen)].tolist() == [(1.0, 2.0, 1.0)[s] for s in spanned.chosen_segments]
    # The spanned rejected response ends with its last mid token: the suffix is cut, not just zeroed.
    kept = [s for s in batch.segments[B].tolist() if s != NONE]
    assert kept == spanned.rejected_segments[: len(kept)] and kept[-1] == MID
    assert SUFFIX in spanned.rejected_segments
    # The pair without spans keeps every token with weight 1.
    assert batch.weights[B + 1, : len(plain.rejected)].tolist() == [1.0] * len(plain.rejected)
    untrimmed = collate(pairs, Weighting(), trim=False)
    assert (untrimmed.segments[B] != NONE).sum() == len(spanned.rejected)
    two_rows = sum(2 * len(p.prompt) + len(p.chosen) + len(p.rejected) for p in pairs)
    assert batch.tokens < untrimmed.tokens < two_rows


def _fields(record: dict) -> dict:
    spans = {s: tuple(record["spans"][s]["mid"]) for s in ("chosen", "rejected")}
    return {"prompt": record["prompt"], "chosen": record["chosen"], "rejected": record["rejected"], "spans": spans}


def test_max_length_keeps_the_prompt_end_and_the_response_start(tokenizer):
    long_prompt = "".join(f"# line {i}\n" for i in range(60))
    pair = Pair(1, long_prompt, "    return 1\n" * 30, "    return 2\n", None)
    full, cut = tokenize_pair(pair, tokenizer, 10_000)
    assert not cut
    short, cut = tokenize_pair(pair, tokenizer, 64)
    assert cut
    assert len(short.prompt) + max(len(short.chosen), len(short.rejected)) <= 64
    assert short.prompt == full.prompt[-len(short.prompt) :]
    assert short.chosen == full.chosen[: len(short.chosen)] and len(short.chosen) >= 32
    assert short.rejected == full.rejected  # short enough to keep whole


# -- reading pairs ------------------------------------------------------------------------


def test_read_pairs_accepts_pairs_and_plain_preference_lines(tmp_path):
    lines = make_pairs(2) + [{"prompt": "p", "chosen": "a", "rejected": "b"}]
    pairs = read_pairs(write_pairs(tmp_path / "p.jsonl", lines))
    assert [p.spans is None for p in pairs] == [False, False, True]
    assert pairs[0].spans["chosen"] == tuple(lines[0]["spans"]["chosen"]["mid"])


@pytest.mark.parametrize(
    "bad, message",
    [
        ("{not json", "line 2: invalid JSON"),
        ('{"prompt": "p", "chosen": "a"}', "line 2: missing 'rejected'"),
        ('{"prompt": 3, "chosen": "a", "rejected": "b"}', "line 2: 'prompt' must be"),
        (
            '{"prompt": "p", "chosen": "ab", "rejected": "b", "spans": {"chosen": {"prefix": [0, 1], '
            '"mid": [1, 1], "suffix": [1, 5]}, "rejected": {"prefix": [0, 0], "mid": [0, 1], "suffix": [1, 1]}}}',
            "line 2: spans.chosen",
        ),
    ],
)
def test_a_bad_line_is_reported_with_its_number(tmp_path, bad, message):
    path = tmp_path / "bad.jsonl"
    path.write_text(json.dumps(make_pairs(1)[0]) + "\n" + bad + "\n")
    with pytest.raises(FdpoError, match=message):
        read_pairs(str(path))


# -- config ---------------------------------------------------------------------------------


def test_flags_given_override_the_config_file_which_overrides_defaults(tmp_path):
    path = tmp_path / "train.yaml"
    path.write_text("model: m\noutput-dir: out\nbeta: 0.3\nbatch_size: 8\nlora: true\n")
    flags = {**TrainConfig().as_dict(), "beta": 0.5, "batch_size": 4, "lr": 1e-5}
    config = merge(read_yaml(path), flags, given={"beta", "lr"})
    assert (config.beta, config.batch_size, config.lr, config.lora, config.model) == (0.5, 8, 1e-5, True, "m")
    assert config.w_focused == TrainConfig().w_focused


def test_config_file_with_an_unknown_key_is_an_error(tmp_path):
    path = tmp_path / "train.yaml"
    path.write_text("model: m\nbetta: 0.3\n")
    with pytest.raises(FdpoError, match="unknown option.*betta"):
        read_yaml(path)
