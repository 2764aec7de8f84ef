"""`fdpo train` as a real process on a tiny model: outputs, margins, round trip, resume,
gradient accumulation, two processes, LoRA, config files and errors."""

from __future__ import annotations

import json
import math
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from test_train_data import make_pairs, write_pairs

ROOT = Path(__file__).resolve().parents[1]


def run_train(fdpo_exe, *args, launcher: list[str] | None = None, env: dict | None = None):
    """`fdpo train ARGS` as a real process (or under ``launcher``)."""
    environ = {**os.environ, "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false", **(env or {})}
    cmd = (launcher or fdpo_exe) + ["train", *map(str, args)]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=environ, cwd=ROOT, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


def train_in_process(*args):
    """The same CLI in this process: skips a fresh interpreter's ~10 s of imports."""
    from typer.testing import CliRunner

    from fdpo.cli import app

    torch.set_num_threads(1)
    result = CliRunner().invoke(app, ["train", *map(str, args)])
    assert result.exit_code == 0, result.stderr[-3000:]
    return result


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def metrics(out: Path, split: str = "train") -> list[dict]:
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    return [r for r in rows if r["split"] == split]


def weights(out: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    return load_file(out / "model.safetensors")


def assert_same_weights(a: Path, b: Path, atol: float) -> None:
    wa, wb = weights(a), weights(b)
    assert wa.keys() == wb.keys()
    for key in wa:
        torch.testing.assert_close(wa[key], wb[key], atol=atol, rtol=0, msg=key)


@pytest.fixture(scope="module")
def pairs_file(tmp_path_factory) -> Path:
    return Path(write_pairs(tmp_path_factory.mktemp("pairs") / "pairs.jsonl", make_pairs(6)))


@pytest.fixture(scope="module")
def main_run(fdpo_exe, tiny_model_dir, pairs_file, tmp_path_factory):
    """4 steps of 2 pairs, checkpoints every 2, the training pairs doubling as eval pairs."""
    out = tmp_path_factory.mktemp("main") / "out"
    proc = run_train(
        fdpo_exe, pairs_file, "-m", tiny_model_dir, "-O", out, "--batch-size", 2, "--grad-accum", 1,
        "--max-steps", 4, "--save-steps", 2, "--eval-pairs", pairs_file,
    )
    return out, proc


@pytest.fixture(scope="module")
def one_big_batch(tiny_model_dir, pairs_file, tmp_path_factory):
    """2 steps of 4 pairs in one micro-batch, set up through --config (with a flag overriding it)."""
    base = tmp_path_factory.mktemp("big")
    config = base / "train.yaml"
    config.write_text(f"model: {tiny_model_dir}\nbatch-size: 4\ngrad_accum: 1\nmax_steps: 9\nbeta: 0.1\n")
    train_in_process(pairs_file, "--config", config, "--max-steps", 2, "-O", base / "out")
    return base / "out"


def test_run_writes_a_model_folder_metrics_and_curves(main_run, tiny_model_dir):
    out, proc = main_run
    summary = json.loads(proc.stdout)  # stdout is exactly one JSON line
    assert summary["output_dir"] == str(out) and summary["steps"] == 4 and summary["pairs"] == 6
    assert "fdpo train:" in proc.stderr
    for name in ("config.json", "model.safetensors", "tokenizer.json", "metrics.jsonl", "fdpo-train.json"):
        assert (out / name).is_file(), name
    assert (out / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert sorted(p.name for p in out.glob("checkpoint-*")) == ["checkpoint-2", "checkpoint-4"]
    assert [r["step"] for r in metrics(out)] == [1, 2, 3, 4]
    assert json.loads((out / "config.json").read_text())["dtype"] == "float32"


def test_first_step_loss_is_ln2_and_the_margin_on_the_pairs_grows(main_run):
    out, _ = main_run
    train = metrics(out)
    assert train[0]["loss"] == pytest.approx(math.log(2), abs=1e-5)
    assert train[0]["margin"] == pytest.approx(0.0, abs=1e-4)
    margins = [r["margin"] for r in train]
    assert margins[-1] > margins[0] + 0.02
    assert train[-1]["loss"] < train[0]["loss"]
    [final] = metrics(out, "eval")
    assert final["step"] == 4
    assert final["eval_margin"] > 0.02 and final["eval_loss"] < math.log(2) - 0.01
    assert final["eval_reward_accuracy"] > 0.5
    assert final["eval_margin_mid"] > 0 or final["eval_margin_suffix"] > 0


def test_saved_folder_loads_and_reproduces_the_final_eval(main_run, tiny_model_dir, pairs_file):
    """Save → load round trip: the loaded model scores the eval pairs exactly as the trainer did."""
    from accelerate import Accelerator
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from fdpo.training import refcache
    from fdpo.training.data import collate, read_pairs, tokenize_pair
    from fdpo.training.loss import pair_stats, token_logps
    from fdpo.training.weights import Weighting

    out, _ = main_run
    tokenizer = AutoTokenizer.from_pretrained(out)
    trained = AutoModelForCausalLM.from_pretrained(out).eval()
    initial = AutoModelForCausalLM.from_pretrained(tiny_model_dir).eval()
    pairs = [tokenize_pair(p, tokenizer, 1024)[0] for p in read_pairs(pairs_file)]
    ref = refcache.compute(Accelerator(cpu=True), initial, pairs, batch_size=4)
    batch = collate(pairs, Weighting(), trim=False)
    with torch.no_grad():
        stats = pair_stats(token_logps(trained, batch), batch, torch.cat([ref[:, 0], ref[:, 1]]), 0.1)
    [final] = metrics(out, "eval")
    assert stats.losses.mean().item() == pytest.approx(final["eval_loss"], abs=1e-5)
    assert (stats.chosen - stats.rejected).mean().item() == pytest.approx(final["eval_margin"], abs=1e-5)


def test_resuming_from_a_checkpoint_ends_where_the_uninterrupted_run_did(main_run, tiny_model_dir, pairs_file, tmp_path):
    out, _ = main_run
    resumed = tmp_path / "resumed"
    shutil.copytree(out / "checkpoint-2", resumed / "checkpoint-2")
    shutil.copytree(out / "ref-cache", resumed / "ref-cache")
    proc = train_in_process(
        pairs_file, "-m", tiny_model_dir, "-O", resumed, "--batch-size", 2, "--grad-accum", 1,
        "--max-steps", 4, "--resume-from-checkpoint", "latest",
    )
    assert "resumed from" in proc.stderr and "read from" in proc.stderr  # the reference came from the cache
    assert [r["step"] for r in metrics(resumed)] == [3, 4]
    for a, b in zip(metrics(resumed), metrics(out)[2:]):
        assert a["loss"] == pytest.approx(b["loss"], abs=1e-6)
    assert_same_weights(resumed, out, atol=1e-6)


def test_gradient_accumulation_matches_one_large_batch(one_big_batch, tiny_model_dir, pairs_file, tmp_path):
    train_in_process(
        pairs_file, "-m", tiny_model_dir, "-O", tmp_path, "--batch-size", 2, "--grad-accum", 2, "--max-steps", 2
    )
    big, accumulated = metrics(one_big_batch), metrics(tmp_path)
    assert [r["step"] for r in accumulated] == [1, 2]
    for a, b in zip(accumulated, big):
        assert a["loss"] == pytest.approx(b["loss"], abs=1e-5)
        assert a["grad_norm"] == pytest.approx(b["grad_norm"], rel=1e-4)
    assert big[1]["loss"] < big[0]["loss"]  # the second step saw an updated model
    assert_same_weights(tmp_path, one_big_batch, atol=1e-5)


def test_config_file_sets_options_and_flags_override_it(one_big_batch, tiny_model_dir):
    run = json.loads((one_big_batch / "fdpo-train.json").read_text())
    assert run["config"]["batch_size"] == 4 and run["config"]["max_steps"] == 2 and run["steps"] == 2
    assert run["config"]["model"] == str(tiny_model_dir)


def test_two_processes_give_the_same_loss_as_one(one_big_batch, tiny_model_dir, pairs_file, tmp_path):
    """`accelerate launch` with 2 CPU processes (gloo), 2 pairs each = 1 process with 4 pairs."""
    accelerate = [str(Path(sys.executable).parent / "accelerate"), "launch", "--multi_gpu", "--num_processes", "2",
                  "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
                  "--main_process_port", str(free_port()), "-m", "fdpo"]
    proc = run_train(
        None, pairs_file, "-m", tiny_model_dir, "-O", tmp_path, "--batch-size", 2, "--grad-accum", 1, "--max-steps", 2,
        launcher=accelerate, env={"ACCELERATE_USE_CPU": "1"},
    )
    summaries = [json.loads(line) for line in proc.stdout.splitlines()]
    assert len(summaries) == 1 and summaries[0]["global_batch"] == 4  # one writer, two workers
    two, one = metrics(tmp_path), metrics(one_big_batch)
    for a, b in zip(two, one, strict=True):
        assert a["loss"] == pytest.approx(b["loss"], abs=1e-5)
        assert a["grad_norm"] == pytest.approx(b["grad_norm"], rel=1e-4)
    assert_same_weights(tmp_path, one_big_batch, atol=1e-5)


def test_lora_with_online_reference_saves_a_merged_plain_model(tiny_model_dir, pairs_file, tmp_path):
    train_in_process(
        pairs_file, "-m", tiny_model_dir, "-O", tmp_path, "--lora", "--lora-r", 4, "--ref", "online",
        "--batch-size", 3, "--grad-accum", 1, "--max-steps", 2, "--lr", "5e-3",
    )
    train = metrics(tmp_path)
    assert train[0]["loss"] == pytest.approx(math.log(2), abs=1e-5)  # the adapter-off reference = the policy
    assert train[1]["margin"] > train[0]["margin"]
    trained, base = weights(tmp_path), weights(tiny_model_dir)
    assert trained.keys() == base.keys()  # merged: no adapter tensors, the base model's names
    changed = [k for k in base if not torch.equal(trained[k], base[k])]
    assert any("q_proj" in k for k in changed) and not any("embed" in k or "norm" in k for k in changed)
    assert not (tmp_path / "ref-cache").exists()


def test_errors_exit_1_with_one_line(tiny_model_dir, pairs_file, tmp_path):
    from typer.testing import CliRunner

    from fdpo.cli import app

    bad = tmp_path / "bad.jsonl"
    bad.write_text(pairs_file.read_text().splitlines()[0] + "\n{oops\n")
    runner = CliRunner()
    result = runner.invoke(app, ["train", str(bad), "-m", str(tiny_model_dir), "-O", str(tmp_path / "o")])
    assert result.exit_code == 1 and "fdpo train: error: line 2: invalid JSON" in result.stderr
    result = runner.invoke(app, ["train", str(pairs_file), "-O", str(tmp_path / "o")])
    assert result.exit_code == 1 and "--model is required" in result.stderr
    result = runner.invoke(app, ["train", str(pairs_file), "-m", str(tiny_model_dir), "-O", "o", "--ref", "nope"])
    assert result.exit_code == 2
    assert result.stdout == ""
