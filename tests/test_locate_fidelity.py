"""fdpo locate and the paper: token-identical shared parts in every mode, and the --paper preset."""

from __future__ import annotations

import random
import sys
import tokenize
from pathlib import Path

import orjson
import pytest
from typer.testing import CliRunner

from fdpo.cli import app
from fdpo.locating.spans import Edges, char_cut
from test_locate import assert_token_aligned, assert_well_formed, one_pair, parts, python_token_edges, ranked

ROOT = Path(__file__).resolve().parents[1]
MUL = "def f(a, b):\n    return a*b\n"
POW = "def f(a, b):\n    return a**b\n"


def assert_cut_on_python_tokens(pair: dict) -> None:
    """The prefix ends, and the suffix starts, on a token boundary of both responses (Python's tokenizer)."""
    for side in ("chosen", "rejected"):
        edges = python_token_edges(pair[side])
        assert pair["spans"][side]["prefix"][1] in edges, (side, pair[side], pair["spans"][side])
        assert pair["spans"][side]["suffix"][0] in edges, (side, pair[side], pair["spans"][side])


# --- the shared parts never split a token -----------------------------------------------


@pytest.mark.parametrize("snap", [False, True])
def test_a_deciding_character_is_never_in_the_prefix(snap):
    # The common characters are "…return a*": the chosen `*` is half of the rejected `**`.
    assert char_cut(MUL, POW).prefix == MUL.index("*") + 1
    pair = one_pair(MUL, POW, snap=snap)
    assert_well_formed(pair)
    assert_cut_on_python_tokens(pair)
    assert parts(pair, "chosen")[0] == parts(pair, "rejected")[0] == "def f(a, b):\n    return " + ("" if snap else "a")
    assert (parts(pair, "chosen")[1], parts(pair, "rejected")[1]) == (("a*b", "a**b") if snap else ("*", "**"))
    # Diff's shared length counts the token-aligned cut, before snapping.
    assert pair["diff"]["shared"] == pytest.approx(round((len("def f(a, b):\n    return a") + len("b\n")) / len(POW), 6))


def test_suffix_never_starts_inside_a_token():
    chosen, rejected = "x = 10\n", "x = 110\n"  # common characters at the end: "10\n"
    pair = one_pair(chosen, rejected, snap=False)
    assert parts(pair, "chosen")[1:] == ("10", "\n") and parts(pair, "rejected")[1:] == ("110", "\n")


def test_random_edits_cut_on_python_tokens_of_both_sides():
    base = "def f(xs):\n    total = 0\n    for x in xs:\n        if x % 2 == 0 and x >= 10:\n            total += x ** 2\n    return total\n"
    rng = random.Random(11)
    checked = 0
    for _ in range(150):
        edited = list(base)
        pos = rng.randrange(len(edited))
        op = rng.choice(["ins", "del", "sub"])
        ch = rng.choice("abx01*=<> ")
        if op == "ins":
            edited.insert(pos, ch)
        elif op == "del":
            del edited[pos]
        else:
            edited[pos] = ch
        rejected = "".join(edited)
        if rejected == base:
            continue
        for snap in (False, True):
            pair = one_pair(base, rejected, snap=snap)
            assert_well_formed(pair)
            if _tokenizes(rejected):  # else the reference check cannot say (the cut falls back to rough tokens)
                assert_cut_on_python_tokens(pair)
                checked += 1
    assert checked > 200


def _tokenizes(text: str) -> bool:
    try:
        python_token_edges(text)
    except (tokenize.TokenError, SyntaxError):
        return False
    return True


def test_a_response_python_cannot_tokenize_is_still_cut_between_tokens():
    # The bad dedent stops Python's tokenizer before the difference; names stay whole anyway.
    chosen, rejected = "  a = 1\n b = value1\n", "  a = 1\n b = value2\n"
    pair = one_pair(chosen, rejected, snap=False)
    assert parts(pair, "chosen")[1] == "value1" and parts(pair, "rejected")[1] == "value2"
    text = "  a\n b = 3.5e-3 + x_1 $ 'open\n"
    pieces = [text[a:b] for a, b in zip(Edges(text).positions, Edges(text).positions[1:])]
    assert pieces == ["  ", "a", "\n", " ", "b", " ", "=", " ", "3.5e-3", " ", "+", " ", "x_1", " ", "$", " ", "'", "open", "\n"]


def test_edges_are_the_boundaries_of_pythons_tokenizer():
    sources = sorted((ROOT / "fdpo").rglob("*.py"))
    assert len(sources) > 20
    extra = {
        "strings": 'x = rb"a\\"b" + f\'{y!r}\' + """q"\nr""" + \'\'\'\'\'\'\n',
        "numbers": "n = 1_000 + 0x1F + 3.5e-3j + .5 + 1e+9\n",
        "operators": "a **= b // c >> d; e -> f; g := h; i != j; k[...]\n",
        "continuation": "x = 1 + \\\n    2  # done\n\n   \n",
        "crlf": "def f():\r\n    return 1\r\n",
    }
    texts = [p.read_text(encoding="utf-8") for p in sources] + list(extra.values())
    for text in texts:
        edges, python = set(Edges(text).positions), python_token_edges(text)
        assert edges <= python, text[:60]  # never inside one of Python's tokens
        if sys.version_info < (3, 12):  # from 3.12 Python also splits f-strings into parts
            assert edges == python, text[:60]


# --- the --paper preset --------------------------------------------------------------------


def _run(src, *flags) -> list[dict]:
    result = CliRunner().invoke(app, ["locate", str(src), *flags])
    assert result.exit_code == 0, result.output
    return [orjson.loads(line) for line in result.stdout.splitlines()]


def test_paper_preset_is_the_plain_match(tmp_path, tiny_model_dir, tokenizer):
    src = tmp_path / "ranked.jsonl"
    records = [ranked([MUL, POW], ["PP", "PF"], pid="mul"), ranked([MUL.replace("a*b", "b * a"), POW], ["PP", "PF"], pid="swap")]
    src.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in records))
    paper, raw, snapped = _run(src, "--paper"), _run(src, "--no-snap"), _run(src)
    assert "--paper without --tokenizer" in CliRunner().invoke(app, ["locate", str(src), "--paper"]).stderr
    assert paper == raw != snapped
    assert all(p["locate"] == {"match": "chars", "snap": {"chosen": "none", "rejected": "none"}, "rejected_label": "incorrect"} for p in paper)
    assert (parts(paper[0], "chosen")[1], parts(paper[0], "rejected")[1]) == ("*", "**")
    by_tokens = _run(src, "--paper", "--tokenizer", str(tiny_model_dir))
    for p in by_tokens:
        assert p["locate"]["match"] == "tokens" and p["locate"]["snap"]["chosen"] == "none"
        assert_token_aligned(p, tokenizer)


def test_paper_preset_refuses_snapping(tmp_path):
    src = tmp_path / "ranked.jsonl"
    src.write_bytes(orjson.dumps(ranked([MUL, POW], ["PP", "PF"])) + b"\n")
    result = CliRunner().invoke(app, ["locate", str(src), "--paper", "--snap"])
    assert result.exit_code == 2 and "--paper turns snapping off" in result.output


def test_paper_preset_does_not_abstain(tmp_path):
    # One candidate against one other: a tie, confidence 0, which the default skips.
    record = ranked([MUL, POW], ["PP", "PF"])
    record["ranking"]["confidence"] = 0.0
    src = tmp_path / "ranked.jsonl"
    src.write_bytes(orjson.dumps(record) + b"\n")
    assert _run(src) == [] and len(_run(src, "--paper")) == 1
    assert _run(src, "--paper", "--min-confidence", "0.5") == []


@pytest.fixture(scope="module")
def tokenizer(tiny_model_dir):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny_model_dir)
