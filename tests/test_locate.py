"""fdpo locate: shared prefix / suffix, syntax snapping, token alignment, pair choice and the command."""

from __future__ import annotations

import ast
import io
import os
import random
import subprocess
import tokenize

import orjson
import pytest

from fdpo.locating.pairs import locate_record
from fdpo.locating.phi import phi
from fdpo.locating.spans import char_cut
from fdpo.ranking.scoring import rank_record


def ranked(
    responses: list[str], rows: list[str], pid: str = "p", codes: list[str] | None = None, load: list[str] | None = None
) -> dict:
    """A record ranked by ``fdpo.ranking.scoring`` from pass rows such as "PPF" (``load``: each candidate's load status)."""
    m = len(rows[0])
    record = {
        "id": pid,
        "prompt": "Write f.\n",
        "candidates": [
            {"id": f"c{i}", "response": r, "code": (codes or responses)[i]} for i, r in enumerate(responses)
        ],
        "tests": [{"id": f"t{j}", "response": "", "code": ""} for j in range(m)],
        "execution": {
            "outcomes": [["pass" if ch == "P" else "fail" for ch in row] for row in rows],
            "load": load or ["ok"] * len(rows),
        },
    }
    out = rank_record(record, "codedpo")
    del out["ranking"]["confidence"]  # these records are about spans; abstention has tests of its own
    return out


def one_pair(chosen: str, rejected: str, **kw) -> dict:
    lines, _, reason = locate_record(ranked([chosen, rejected], ["PP", "PF"]), **kw)
    assert reason is None and len(lines) == 1
    return lines[0]


def parts(pair: dict, side: str) -> tuple[str, str, str]:
    text = pair[side]
    return tuple(text[a:b] for a, b in (pair["spans"][side][k] for k in ("prefix", "mid", "suffix")))


def assert_well_formed(pair: dict) -> None:
    """Spans tile each response, and the prefix and suffix texts are the same on both sides."""
    for side in ("chosen", "rejected"):
        spans = pair["spans"][side]
        assert spans["prefix"][0] == 0 and spans["suffix"][1] == len(pair[side])
        assert spans["prefix"][1] == spans["mid"][0] and spans["mid"][1] == spans["suffix"][0]
    c, r = parts(pair, "chosen"), parts(pair, "rejected")
    assert c[0] == r[0] and c[2] == r[2]
    assert c[1] or r[1]


def python_token_edges(code: str) -> set[int]:
    """Character positions where Python's own tokenizer starts or ends a token (an independent check)."""
    line_starts = [0]
    for line in code.splitlines(keepends=True):
        line_starts.append(line_starts[-1] + len(line))
    edges = {0, len(code)}
    for tok in tokenize.generate_tokens(io.StringIO(code).readline):
        for row, col in (tok.start, tok.end):
            if row - 1 < len(line_starts):
                edges.add(line_starts[row - 1] + col)
    return edges


def assert_mid_on_token_edges(pair: dict, side: str) -> None:
    text = pair[side]
    a, b = pair["spans"][side]["mid"]
    edges = python_token_edges(text)
    inside = lambda pos: not (pos in edges or text[pos - 1 : pos].isspace() or text[pos : pos + 1].isspace())
    assert not inside(a) and not inside(b), (text[:a], text[a:b], text[b:])


# --- the cut on characters ---------------------------------------------------------


def test_expression_mid_is_the_whole_comparison():
    chosen = "def f(x):\n    if x > 0:\n        return 1\n    return 2\n"
    rejected = chosen.replace("x > 0", "x >= 0")
    pair = one_pair(chosen, rejected)
    assert parts(pair, "chosen")[1] == "x > 0" and parts(pair, "rejected")[1] == "x >= 0"
    assert pair["locate"]["snap"] == {"chosen": "syntax", "rejected": "syntax"}
    raw = one_pair(chosen, rejected, snap=False)  # whole Python tokens even unsnapped: never "" vs "="
    assert parts(raw, "chosen")[1] == ">" and parts(raw, "rejected")[1] == ">="


def test_unicode_and_crlf_spans_are_character_offsets():
    chosen = 'def f(s):\r\n    """Größe → 🙂"""\r\n    return s + "é"\r\n'
    rejected = 'def f(s):\r\n    """Größe → 🙂"""\r\n    return s + "è"\r\n'
    for snap in (True, False):
        pair = one_pair(chosen, rejected, snap=snap)
        assert_well_formed(pair)
        assert "\r\n" in parts(pair, "chosen")[0] and parts(pair, "chosen")[2].endswith("\r\n")
        assert parts(pair, "chosen")[1] == '"é"'  # a string literal is one Python token
        # Offsets survive a JSON round trip and index the decoded text.
        back = orjson.loads(orjson.dumps(pair))
        a, b = back["spans"]["rejected"]["mid"]
        assert back["rejected"][a:b] == '"è"'


def test_identical_responses_give_no_pair():
    same = "def f(x):\n    return x\n"
    record = ranked([same, same, "def f(x):\n    return -x\n"], ["PP", "PF", "FF"])
    record["ranking"]["correct"], record["ranking"]["incorrect"] = ["c0"], ["c1"]
    lines, pairs, reason = locate_record(record)
    assert lines == [] and pairs == [] and reason == "only identical responses"


def test_pure_insertion_leaves_one_mid_empty():
    rejected = "def f(xs):\n    total = 0\n    return total\n"
    chosen = "def f(xs):\n    total = 0\n    for x in xs:\n        total += x\n    return total\n"
    pair = one_pair(chosen, rejected)
    assert_well_formed(pair)
    assert parts(pair, "rejected")[1] == ""
    loop = ast.get_source_segment(chosen, ast.parse(chosen).body[0].body[1])
    assert parts(pair, "chosen")[1].strip() == loop
    assert_mid_on_token_edges(pair, "chosen")


def test_snapping_widens_across_a_whole_if_block():
    chosen = "def f(x, y):\n    if x > 0:\n        y = 1\n    return y\n"
    rejected = "def f(x, y):\n    if x > 0 and y:\n        y = 2\n    return y\n"
    raw = one_pair(chosen, rejected, snap=False)
    assert parts(raw, "chosen")[1] == ":\n        y = 1"  # straddles the header and the body
    pair = one_pair(chosen, rejected)
    for side, text in (("chosen", chosen), ("rejected", rejected)):
        if_stmt = ast.get_source_segment(text, ast.parse(text).body[0].body[0])
        assert parts(pair, side)[1] == if_stmt
    assert_well_formed(pair)


def test_responses_that_do_not_parse_fall_back_to_whole_lines():
    chosen = "def f(x):\n    y = x + 1\n    return y\n"
    rejected = "def f(x):\n    y = x +* 1\n    return y\n"
    pair = one_pair(chosen, rejected)
    assert pair["locate"]["snap"]["rejected"] == "lines"
    assert parts(pair, "chosen")[1] == "    y = x + 1\n" and parts(pair, "rejected")[1] == "    y = x +* 1\n"


@pytest.mark.parametrize("extracted", ["verbatim", "with prompt imports"])
def test_fenced_chat_answer_snaps_inside_its_code(extracted):
    code_c = "def f(x):\n    return x * 2\n"
    code_r = "def f(x):\n    return x ** 2\n"
    wrap = "Here you go:\n```python\n{}```\nIt doubles x.\n"
    lead = "import os\n" if extracted != "verbatim" else ""  # extract_code may add the prompt's imports
    record = ranked([wrap.format(code_c), wrap.format(code_r)], ["PP", "PF"], codes=[lead + code_c, lead + code_r])
    pair = locate_record(record)[0][0]
    assert pair["locate"]["snap"] == {"chosen": "syntax", "rejected": "syntax"}
    assert parts(pair, "chosen")[1] == "x * 2" and parts(pair, "rejected")[1] == "x ** 2"


def test_completion_snaps_through_the_prompt_plus_response():
    prompt = "def f(x):\n"
    body_c, body_r = "    return [x] * 2\n", "    return [x, x, 1]\n"
    pair = locate_record(ranked([body_c, body_r], ["PP", "PF"], codes=[prompt + body_c, prompt + body_r]))[0][0]
    assert pair["locate"]["snap"]["chosen"] == "syntax"
    assert parts(pair, "chosen")[1] == "[x] * 2" and parts(pair, "rejected")[1] == "[x, x, 1]"


def test_completion_cut_at_a_stop_snaps_after_the_sampled_prompt():
    prompt = "def f(x):\n"
    tail = "\nprint(f(3))\n"  # cut from the code at a stop sequence
    body_c, body_r = "    return [x] * 2\n" + tail, "    return [x, x, 1]\n" + tail
    record = ranked([body_c, body_r], ["PP", "PF"], codes=[prompt + body_c[: -len(tail)], prompt + body_r[: -len(tail)]])
    record["sampling"] = {"code_prompt": prompt, "style": "completion"}
    record["prompt"] = "the problem text, not what the model continued"
    pair = locate_record(record)[0][0]
    assert pair["prompt"] == prompt
    assert pair["locate"]["snap"] == {"chosen": "syntax", "rejected": "syntax"}
    assert parts(pair, "chosen")[1] == "[x] * 2" and parts(pair, "rejected")[1] == "[x, x, 1]"
    # Without the prompt the indented body alone does not parse: whole lines.
    del record["sampling"]
    record["candidates"][0]["code"] = record["candidates"][1]["code"] = None
    pair = locate_record(record)[0][0]
    assert pair["locate"]["snap"]["chosen"] == "lines"
    assert parts(pair, "chosen")[1] == "    return [x] * 2\n"


def test_random_edits_keep_every_invariant():
    base = [
        "def f(xs):\n    total = 0\n    for x in xs:\n        if x % 2 == 0:\n            total += x\n    return total\n",
        "def g(s):\n    words = s.split()\n    return ' '.join(w[::-1] for w in words)\n",
    ]
    rng = random.Random(7)
    alphabet = "abxyz0129 +-*<>=():\n"
    for trial in range(150):
        text = rng.choice(base)
        edited = list(text)
        for _ in range(rng.randint(1, 3)):
            pos = rng.randrange(len(edited))
            op = rng.choice(["ins", "del", "sub"])
            if op == "ins":
                edited.insert(pos, rng.choice(alphabet))
            elif op == "del":
                del edited[pos]
            else:
                edited[pos] = rng.choice(alphabet)
        rejected = "".join(edited)
        if rejected == text:
            continue
        raw = one_pair(text, rejected, snap=False)
        pair = one_pair(text, rejected)
        assert_well_formed(pair)
        for side in ("chosen", "rejected"):
            (ra, rb), (a, b) = raw["spans"][side]["mid"], pair["spans"][side]["mid"]
            assert a <= ra and rb <= b  # snapping only widens
            if pair["locate"]["snap"][side] == "syntax":
                assert_mid_on_token_edges(pair, side)
            else:
                assert a == 0 or pair[side][a - 1] == "\n"


IF_EVEN = "def f(xs):\n    n = 0\n    for i in range(len(xs)):\n        if xs[i] % 2 == 0:\n            n += 1\n    return n\n"


@pytest.mark.parametrize(
    "chosen, rejected, mids",
    [
        # An insertion at the end of an expression: the comparison, not the whole if statement.
        (IF_EVEN, IF_EVEN.replace(" == 0", ""), ("xs[i] % 2 == 0", "xs[i] % 2")),
        # The same edit the other way round: a deletion at the end of an expression.
        (IF_EVEN.replace(" == 0", ""), IF_EVEN, ("xs[i] % 2", "xs[i] % 2 == 0")),
        # Insertions at the start of an expression, and inside a call.
        ("def f(x):\n    return not x\n", "def f(x):\n    return x\n", ("not x", "x")),
        ("def f(x):\n    return -x + 1\n", "def f(x):\n    return x + 1\n", ("-x", "x")),
        ("def f(a, b):\n    return g(a, b)\n", "def f(a, b):\n    return g(a)\n", ("g(a, b)", "g(a)")),
        ("def f(xs):\n    return sum(xs)\n", "def f(xs):\n    return sum(xs) + 1\n", ("sum(xs)", "sum(xs) + 1")),
        ("def f(x):\n    return x.strip()\n", "def f(x):\n    return x\n", ("x.strip()", "x")),
    ],
    ids=["insert at end", "delete at end", "insert not", "insert minus", "insert argument", "append operand", "append call"],
)
def test_an_insertion_or_deletion_snaps_to_the_smallest_expression(chosen, rejected, mids):
    pair = one_pair(chosen, rejected)
    assert_well_formed(pair)
    assert (parts(pair, "chosen")[1], parts(pair, "rejected")[1]) == mids
    for side in ("chosen", "rejected"):
        ast.parse(parts(pair, side)[1], mode="eval")  # one whole expression, no statement
        assert_mid_on_token_edges(pair, side)


# --- the cut on tokens ---------------------------------------------------------------


@pytest.fixture(scope="module")
def tokenizer(tiny_model_dir):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny_model_dir)


def assert_token_aligned(pair: dict, tokenizer) -> None:
    """The prefix is the same whole tokens in both responses, and so is the suffix."""
    encs = {}
    for side in ("chosen", "rejected"):
        enc = tokenizer(pair[side], add_special_tokens=False, return_offsets_mapping=True)
        encs[side] = list(zip(enc["input_ids"], enc["offset_mapping"]))
    p = pair["spans"]["chosen"]["prefix"][1]
    pre = {side: [i for i, (s, e) in e_ if e <= p] for side, e_ in encs.items()}
    assert pre["chosen"] == pre["rejected"]
    for side, e_ in encs.items():
        assert not any(s < p < e for _, (s, e) in e_), "a token straddles the prefix end"
        start = pair["spans"][side]["suffix"][0]
        assert not any(s < start < e for _, (s, e) in e_), "a token straddles the suffix start"
    suf = {side: [i for i, (s, _) in e_ if s >= pair["spans"][side]["suffix"][0]] for side, e_ in encs.items()}
    assert suf["chosen"] == suf["rejected"]


def test_prefix_boundary_inside_a_multi_character_token(tokenizer):
    chosen, rejected = "    return x\n", "    retry(x)\n"
    by_chars = one_pair(chosen, rejected, snap=False)
    by_tokens = one_pair(chosen, rejected, snap=False, tokenizer=tokenizer)
    p_chars, p_tokens = char_cut(chosen, rejected).prefix, by_tokens["spans"]["chosen"]["prefix"][1]
    assert p_chars == len("    ret")
    assert by_chars["spans"]["chosen"]["prefix"][1] == len("    ")  # on characters: Python's token boundary
    offsets = tokenizer(chosen, add_special_tokens=False, return_offsets_mapping=True)["offset_mapping"]
    straddling = [s for s, e in offsets if s < p_chars < e]
    assert straddling, "precondition: the character boundary falls inside a token (e.g. ' return')"
    assert p_tokens == straddling[0]  # the prefix stops where that token starts
    assert_token_aligned(by_tokens, tokenizer)
    assert by_tokens["locate"]["match"] == "tokens"


def test_token_boundary_never_splits_a_character(tokenizer):
    # é and è share their first UTF-8 byte, so byte-level tokens agree on half a character.
    chosen, rejected = 'x = "café"\n', 'x = "cafè"\n'
    ids = [tokenizer(t, add_special_tokens=False)["input_ids"] for t in (chosen, rejected)]
    pair = one_pair(chosen, rejected, snap=False, tokenizer=tokenizer)
    assert_token_aligned(pair, tokenizer)
    p = pair["spans"]["chosen"]["prefix"][1]
    assert chosen[:p] == rejected[:p] and p <= chosen.index("é")
    assert ids[0] != ids[1]


def test_snapping_keeps_token_alignment(tokenizer):
    rng = random.Random(3)
    base = (
        "def f(xs):\n    best = None  # café\n    for x in xs:\n        if best is None or x > best:\n"
        "            best = x\n    return best or 'naïve→🙂'\n"
    )
    for _ in range(80):
        pos = rng.randrange(len(base))
        rejected = base[:pos] + rng.choice(["<", "1", "é", "è", "🙃", " ", "x"]) + base[pos + 1 :]
        if rejected == base:
            continue
        pair = one_pair(base, rejected, tokenizer=tokenizer)
        assert_well_formed(pair)
        assert_token_aligned(pair, tokenizer)


# --- choosing pairs --------------------------------------------------------------------


def _family():
    right = "def f(x):\n    return abs(x) + 1\n"
    near = "def f(x):\n    return abs(x) - 1\n"  # fails one test
    far = "def f(x):\n    print('no idea')\n    return None\n"  # fails all
    return ranked([right, right, near, far], ["PPP", "PPP", "PPF", "FFF"])


def test_pairs_are_deduplicated_and_ordered_by_diff():
    record = _family()
    lines, _, _ = locate_record(record, per_problem=10)
    texts = [(p["chosen"], p["rejected"]) for p in lines]
    assert len(texts) == len(set(texts)) == 2  # the two identical correct answers count once
    diffs = [p["diff"]["value"] for p in lines]
    assert diffs == sorted(diffs, reverse=True)
    for p in lines:
        assert p["diff"]["value"] == pytest.approx(p["diff"]["rank_gap"] + p["diff"]["lambda"] * p["diff"]["shared"], abs=1e-5)
        assert p["id"] == f"p:{p['chosen_id']}>{p['rejected_id']}" and p["problem_id"] == "p"
        assert p["prompt"] == "Write f.\n"


def test_lambda_trades_rank_gap_against_shared_length():
    record = _family()
    by_gap = locate_record(record, lam=0.0)[0][0]
    by_shared = locate_record(record, lam=100.0)[0][0]
    assert by_gap["rejected_id"] == "c3"  # the candidate that fails everything
    assert by_shared["rejected_id"] == "c2"  # the near miss: one character apart


def test_records_without_both_labels_give_no_pair():
    record = ranked(["def f():\n    return 1\n", "def f():\n    return 2\n"], ["PF", "PF"])
    lines, _, reason = locate_record(record)
    assert lines == [] and reason == "all equal"


def _with_unloaded(extra_incorrect: bool = True) -> dict:
    """c0 correct, (c1 incorrect,) and a candidate whose code did not load (a syntax error)."""
    right = "def f(x):\n    return x + 1\n"
    wrong = "def f(x):\n    return x - 1\n"
    broken = "def f(x):\n    return x +* 1\n"
    responses, rows, load = [right, wrong, broken], ["PP", "PF", "FF"], ["ok", "ok", "error"]
    if not extra_incorrect:
        del responses[1], rows[1], load[1]
    return ranked(responses, rows, load=load)


def test_unloaded_candidates_are_rejected_only_when_asked():
    record = _with_unloaded()
    unloaded_id = record["ranking"]["unloaded"][0]
    assert unloaded_id not in record["ranking"]["incorrect"]
    default = locate_record(record, per_problem=10)[0]
    assert [p["rejected_id"] for p in default] == ["c1"]
    assert all(p["locate"]["rejected_label"] == "incorrect" for p in default)
    pairs = locate_record(record, per_problem=10, reject_unloaded=True)[0]
    assert sorted(p["rejected_id"] for p in pairs) == ["c1", unloaded_id]
    broken = next(p for p in pairs if p["rejected_id"] == unloaded_id)
    assert broken["locate"]["rejected_label"] == "unloaded"
    assert broken["locate"]["snap"]["rejected"] == "lines"  # its code does not parse: whole lines
    assert_well_formed(broken)
    for p in pairs:
        assert -1.0 <= p["diff"]["rank_gap"] <= 1.0


def test_reject_unloaded_gives_pairs_where_every_loaded_candidate_is_correct():
    record = _with_unloaded(extra_incorrect=False)
    lines, _, reason = locate_record(record)
    assert lines == [] and reason and reason == record["ranking"]["reason"]
    lines, _, reason = locate_record(record, reject_unloaded=True)
    assert reason is None and [(p["chosen_id"], p["rejected_id"]) for p in lines] == [("c0", "c1")]


def test_min_confidence_abstains_on_records_ranked_with_low_confidence(monkeypatch):
    import fdpo.locating.pairs

    record = _family()
    record["ranking"]["confidence"] = 0.3
    assert locate_record(record, min_confidence=0.5)[2] == "low confidence"
    assert locate_record(record, min_confidence=0.3)[0]  # at the threshold: kept
    assert locate_record(record)[0]  # the default, MIN_CONFIDENCE
    record["ranking"]["confidence"] = -0.5  # out of range, but 0 means off
    assert locate_record(record, min_confidence=0.0)[0]
    record["ranking"]["confidence"] = 0.3
    monkeypatch.setattr(fdpo.locating.pairs, "MIN_CONFIDENCE", 0.9)
    assert locate_record(record)[2] == "low confidence"
    # No confidence (ranked by an older fdpo) counts as 1.0.
    del record["ranking"]["confidence"]
    assert locate_record(record, min_confidence=1.0)[0]
    # A record that cannot give a pair says why, however unsure the ranking is.
    unpaired = ranked(["def f():\n    return 1\n", "def f():\n    return 2\n"], ["PF", "PF"])
    unpaired["ranking"]["confidence"] = 0.0
    assert locate_record(unpaired, min_confidence=0.5)[2] == "all equal"
    record["ranking"]["confidence"] = "high"
    with pytest.raises(ValueError, match="not a number"):
        locate_record(record)


# --- Phi statistics ------------------------------------------------------------------------


def test_phi_of_known_tables():
    assert phi([[10, 0], [0, 10]]) == pytest.approx(1.0)
    assert phi([[0, 10], [10, 0]]) == pytest.approx(-1.0)
    assert phi([[5, 5], [5, 5]]) == pytest.approx(0.0)
    n00, n01, n10, n11 = 3, 7, 6, 2
    expect = (n11 * n00 - n10 * n01) / ((n10 + n11) * (n00 + n01) * (n01 + n11) * (n00 + n10)) ** 0.5
    assert phi([[n00, n01], [n10, n11]]) == pytest.approx(expect)
    assert phi([[0, 0], [4, 6]]) is None


# --- the command ---------------------------------------------------------------------------


def _env():
    env = dict(os.environ)
    env.pop("PYTHONUNBUFFERED", None)
    env.pop("FDPO_DEBUG", None)
    return env


def _problems(n: int, rng: random.Random) -> list[dict]:
    """Problems whose correct answers share a right line and incorrect ones a wrong line."""
    records = []
    for k in range(n):
        head = f"def f{k}(x):\n    y = x * {k + 2}\n"
        right, wrong = f"    return y + {k}\n", f"    return y - {k + 1}\n"
        tails = ["", "\n# done\n"]
        responses, rows = [], []
        for i in range(6):
            ok = i < 3
            responses.append(head + (right if ok else wrong) + rng.choice(tails))
            rows.append("PPPP" if ok else rng.choice(["PPFF", "PFPF", "FFFF"]))
        records.append(ranked(responses, rows, pid=f"p{k}"))
    return records


def test_locate_command_writes_pairs_and_phi_statistics(fdpo_exe, tmp_path):
    records = _problems(12, random.Random(0))
    data = b"".join(orjson.dumps(r) + b"\n" for r in records)
    stats = tmp_path / "phi.json"
    done = subprocess.run(
        fdpo_exe + ["locate", "--stats-out", str(stats), "--pairs-per-problem", "2"],
        input=data, capture_output=True, env=_env(), timeout=120,
    )
    assert done.returncode == 0, done.stderr
    pairs = [orjson.loads(line) for line in done.stdout.splitlines()]
    assert len(pairs) == 24 and all(p["id"].startswith(p["problem_id"] + ":") for p in pairs)
    for p in pairs:
        assert_well_formed(p)
    result = orjson.loads(stats.read_bytes())
    seg = result["segments"]
    assert result["pairs"] == 24
    assert seg["prefix + chosen mid"]["phi"] > 0.5 and seg["prefix + rejected mid"]["phi"] < -0.5
    assert abs(seg["prefix"]["phi"] or 0.0) < 0.2
    assert "prefix + rejected mid" in done.stderr.decode() and "paper Phi" in done.stderr.decode()
    # Recount one table from the outputs: other candidates that start with prefix + chosen mid.
    by_id = {r["id"]: r for r in records}
    in_correct = in_incorrect = 0
    for p in pairs:
        rec = by_id[p["problem_id"]]
        head = p["chosen"][: p["spans"]["chosen"]["mid"][1]]
        for c in rec["candidates"]:
            if c["id"] in (p["chosen_id"], p["rejected_id"]) or not c["response"].startswith(head):
                continue
            if c["id"] in rec["ranking"]["correct"]:
                in_correct += 1
            else:
                in_incorrect += 1
    assert (seg["prefix + chosen mid"]["in_correct"], seg["prefix + chosen mid"]["in_incorrect"]) == (in_correct, in_incorrect)


def test_locate_command_resumes_a_cut_file(fdpo_exe, tmp_path):
    records = _problems(8, random.Random(1))
    src = tmp_path / "ranked.jsonl"
    src.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in records))
    full, part = tmp_path / "full.jsonl", tmp_path / "part.jsonl"
    args = ["locate", str(src), "--pairs-per-problem", "3", "-o"]
    assert subprocess.run(fdpo_exe + args + [str(full)], env=_env(), capture_output=True).returncode == 0
    lines = full.read_bytes().splitlines(keepends=True)
    part.write_bytes(b"".join(lines[:7]) + lines[7][:20])  # killed mid-write inside the third problem
    done = subprocess.run(fdpo_exe + args + [str(part), "--resume"], env=_env(), capture_output=True)
    assert done.returncode == 0, done.stderr
    assert part.read_bytes() == full.read_bytes()


def test_rank_then_locate_in_a_pipe(fdpo_exe, tmp_path):
    executed = []
    for r in _problems(5, random.Random(2)):
        r.pop("ranking")
        executed.append(r)
    rank = subprocess.Popen(fdpo_exe + ["rank", "--method", "codedpo"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=_env())
    locate = subprocess.Popen(fdpo_exe + ["locate", "--min-confidence", "0"], stdin=rank.stdout, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=_env())
    rank.stdout.close()
    rank.stdin.write(b"".join(orjson.dumps(r) + b"\n" for r in executed))
    rank.stdin.close()
    out, err = locate.communicate(timeout=120)
    assert rank.wait(timeout=60) == 0 and locate.returncode == 0, err
    pairs = [orjson.loads(line) for line in out.splitlines()]
    assert [p["problem_id"] for p in pairs] == [f"p{k}" for k in range(5)]
    for p in pairs:
        assert_well_formed(p)
        assert parts(p, "chosen")[1].startswith("y +") and parts(p, "rejected")[1].startswith("y -")


def test_locate_flags_through_the_cli(tmp_path, tiny_model_dir, tokenizer):
    from typer.testing import CliRunner

    from fdpo.cli import app

    src = tmp_path / "ranked.jsonl"
    src.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in _problems(4, random.Random(3))))
    runs = {}
    for name, flags in {"default": [], "raw": ["--no-snap"], "tokens": ["--tokenizer", str(tiny_model_dir)], "gap": ["--lambda", "0"]}.items():
        result = CliRunner().invoke(app, ["locate", str(src), *flags])
        assert result.exit_code == 0, result.output
        runs[name] = [orjson.loads(line) for line in result.stdout.splitlines()]
    assert all(p["locate"]["snap"]["chosen"] == "none" for p in runs["raw"])
    assert all(p["locate"]["match"] == "tokens" for p in runs["tokens"])
    for p in runs["tokens"]:
        assert_token_aligned(p, tokenizer)
    assert all(p["diff"]["lambda"] == 0 and p["diff"]["value"] == p["diff"]["rank_gap"] for p in runs["gap"])
    # Snapping widens the raw mids to the whole expression `y + k` / `y - (k + 1)`.
    for raw, snapped in zip(runs["raw"], runs["default"]):
        assert raw["id"] == snapped["id"]
        assert parts(raw, "chosen")[1] in parts(snapped, "chosen")[1]
        assert parts(snapped, "chosen")[1].startswith("y +")


def test_reject_unloaded_and_min_confidence_through_the_cli(tmp_path):
    from typer.testing import CliRunner

    from fdpo.cli import app

    unsure, sure, old = _family(), _with_unloaded(), _family()
    unsure["id"], unsure["ranking"]["confidence"] = "unsure", 0.2
    sure["id"], sure["ranking"]["confidence"] = "sure", 0.8
    old["id"] = "old"
    old["ranking"].pop("confidence", None)
    src = tmp_path / "ranked.jsonl"
    src.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in (unsure, sure, old)))
    result = CliRunner().invoke(app, ["locate", str(src), "--min-confidence", "0.5", "--pairs-per-problem", "5"])
    assert result.exit_code == 0, result.output
    pairs = [orjson.loads(line) for line in result.stdout.splitlines()]
    assert sorted({p["problem_id"] for p in pairs}) == ["old", "sure"]
    assert "no pair (low confidence): 1" in result.stderr
    result = CliRunner().invoke(app, ["locate", str(src), "--reject-unloaded", "--pairs-per-problem", "5"])
    assert result.exit_code == 0, result.output
    labels = [orjson.loads(line)["locate"]["rejected_label"] for line in result.stdout.splitlines()]
    assert labels.count("unloaded") == 1 and "no pair (low confidence)" not in result.stderr


def test_a_missing_tokenizer_folder_is_a_user_error(tmp_path):
    from fdpo.commands.locate import _tokenizer
    from fdpo.errors import FdpoError

    with pytest.raises(FdpoError, match="cannot load tokenizer .*no such folder"):
        _tokenizer(str(tmp_path / "nowhere"))


def test_records_that_cannot_give_a_pair_are_counted_not_written(tmp_path, fdpo_exe):
    import json
    import subprocess

    upstream = {"id": "bad", "error": "ValueError: from sample"}
    broken = {"id": "broken", "candidates": "not a list", "tests": [], "ranking": {"correct": ["c0"], "incorrect": ["c1"]}}
    path = tmp_path / "ranked.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in (upstream, broken)) + "\n")
    done = subprocess.run(fdpo_exe + ["locate", str(path)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout == ""  # a pairs file holds pairs only
    assert "no pair (upstream error): 1" in done.stderr
    assert "1 with error" in done.stderr and "'broken'" in done.stderr
