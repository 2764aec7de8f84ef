"""The training loop: accelerate set-up, steps, evaluation, checkpoints and the final save.

Covers creating the ``Accelerator`` before the model is loaded, AdamW with linear
warm-up and decay, the reference (cached per-segment sums, or ``--ref online``),
gradient accumulation over the deterministic pair stream, held-out evaluation,
``checkpoint-N`` folders and resuming from them, ``metrics.jsonl`` and
``curves.png``, and the run's summary. Files are written by the main process
only. Does not cover the pieces it drives (``data``, ``loss``, ``refcache``,
``modelio``).
"""

from __future__ import annotations

import copy
import json
import math
import os
import time
from pathlib import Path

import torch
from rich.progress import TextColumn

from fdpo.console import console, progress
from fdpo.errors import FdpoError
from fdpo.models import find_model
from fdpo.training import refcache
from fdpo.training.config import TrainConfig, auto_lr
from fdpo.training.data import TokenizedPair, collate, drop_identical, read_pairs, tokenize_pair
from fdpo.training.loss import pair_stats, segment_sums, token_logps
from fdpo.training.metrics import MetricsFile, StepSums, named, pair_rows
from fdpo.training.modelio import load_policy, load_tokenizer, reference_mode, save_model, source_dtype
from fdpo.training.plots import write_curves
from fdpo.training.spread import map_pairs
from fdpo.training.stream import PairStream
from fdpo.training.weights import Weighting

STATE_FILE = "fdpo-state.json"
RUN_FILE = "fdpo-train.json"


def train(cfg: TrainConfig) -> dict:
    """Run ``cfg`` to the end and return the summary (also printed by the main process)."""
    return Trainer(cfg).run()


class Trainer:
    def __init__(self, cfg: TrainConfig) -> None:
        from accelerate.utils import set_seed

        self.cfg = cfg
        self.started = time.perf_counter()
        self.acc = self._accelerator()  # before the model is loaded: ZeRO-3 and FSDP shard at load time
        self.main = self.acc.is_main_process
        set_seed(cfg.seed)
        self.out_dir = Path(cfg.output_dir)
        self.model_path = find_model(cfg.model)
        self.tokenizer = load_tokenizer(self.model_path)
        self.train_pairs = self._tokenize(cfg.pairs, "training")
        self.eval_pairs = self._tokenize(cfg.eval_pairs, "eval") if cfg.eval_pairs else []
        self.weighting = Weighting(cfg.w_focused, cfg.weight_rejected_mid, cfg.rejected_suffix, focus=not cfg.no_focus)
        self.stream = PairStream(len(self.train_pairs), cfg.seed, cfg.batch_size, self.acc.num_processes, cfg.grad_accum)
        self.total_steps = cfg.max_steps or self.stream.steps_for(cfg.epochs)
        self._prepare_model()
        self.train_ref, self.eval_ref = self._reference()

    # -- set-up -------------------------------------------------------------------------

    def _accelerator(self):
        from accelerate import Accelerator
        from transformers.utils import logging as hf_logging

        # mixed_precision None: the accelerate config's (or none), so --bf16 and a bf16 config both work.
        acc = Accelerator(gradient_accumulation_steps=self.cfg.grad_accum, mixed_precision="bf16" if self.cfg.bf16 else None)
        self.bf16 = acc.mixed_precision == "bf16"
        hf_logging.disable_progress_bar()
        if not acc.is_main_process:
            hf_logging.set_verbosity_error()
        if int(os.environ.get("WORLD_SIZE", "1")) > 1 and acc.num_processes == 1:
            raise FdpoError(
                "WORLD_SIZE > 1 but no distributed run started (every process would train alone): "
                "without GPUs set ACCELERATE_USE_CPU=1 so the processes join over gloo"
            )
        if self.cfg.pairs in (None, "-") and acc.num_processes > 1:
            raise FdpoError("with several processes give the pairs as a file: stdin reaches only one of them")
        return acc

    def _prepare_model(self) -> None:
        """Policy, optional frozen reference copy, AdamW and its schedule, all through accelerate."""
        cfg = self.cfg
        model = load_policy(
            self.model_path,
            lora=cfg.lora,
            lora_r=cfg.lora_r,
            lora_alpha=cfg.lora_alpha,
            bf16=self.bf16,
            gradient_checkpointing=cfg.gradient_checkpointing,
        )
        self.save_dtype = source_dtype(self.model_path)
        # Under LoRA the trainable parameters are the adapters; size the learning rate by the base.
        n_params = sum(p.numel() for p in model.parameters() if not (cfg.lora and p.requires_grad))
        self.lr = cfg.lr or auto_lr(n_params) * (10 if cfg.lora else 1)
        ref_model = self._frozen_copy(model) if (cfg.ref == "online" and not cfg.lora) else None
        optimizer = torch.optim.AdamW(
            [p for p in model.parameters() if p.requires_grad], lr=self.lr, weight_decay=cfg.weight_decay
        )
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            optimizer, warmup_then_decay(math.ceil(cfg.warmup_ratio * self.total_steps), self.total_steps)
        )
        self._configure_deepspeed()
        self.model, self.optimizer = self.acc.prepare(model, optimizer)
        if self.acc.gradient_accumulation_steps != cfg.grad_accum:
            raise FdpoError(
                f"the accelerate config accumulates {self.acc.gradient_accumulation_steps} micro-batches, "
                f"--grad-accum {cfg.grad_accum}: leave gradient_accumulation_steps out of the config"
            )
        # Stepped by hand once per optimizer step (accelerate would step a prepared one per process).
        self.acc.register_for_checkpointing(self.scheduler)
        self.ref_model = self.acc.prepare_model(ref_model, evaluation_mode=True) if ref_model is not None else None

    def _tokenize(self, path: str | None, what: str) -> list[TokenizedPair]:
        pairs, truncated = [], 0
        kept, same = drop_identical(read_pairs(path))
        if not kept:
            raise FdpoError(f"{path or 'stdin'}: every {what} pair has chosen equal to rejected: nothing to train on")
        if same and self.main:
            console.print(f"[yellow]warning:[/] {same} {what} pairs with chosen equal to rejected were skipped "
                          "(no preference to learn)")
        for pair in kept:
            tokenized, cut = tokenize_pair(pair, self.tokenizer, self.cfg.max_length)
            pairs.append(tokenized)
            truncated += cut
        if truncated and self.main:
            console.print(f"[yellow]warning:[/] {truncated} {what} pairs longer than --max-length were truncated")
        return pairs

    def _configure_deepspeed(self) -> None:
        # DeepSpeed reads the micro-batch size from a prepared DataLoader, and fdpo has none.
        plugin = getattr(self.acc.state, "deepspeed_plugin", None)
        if plugin is not None:
            plugin.deepspeed_config["train_micro_batch_size_per_gpu"] = self.cfg.batch_size

    def _frozen_copy(self, model):
        from accelerate.utils import DistributedType

        if self.acc.distributed_type == DistributedType.DEEPSPEED:
            raise FdpoError("--ref online with full fine-tuning is not supported under DeepSpeed: use the cached reference or --lora")
        ref = copy.deepcopy(model)
        ref.requires_grad_(False)
        return ref.eval()

    def _reference(self) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        """Cached per-segment reference sums for training and eval pairs (None for --ref online)."""
        if self.cfg.ref == "online":
            self.ref_seconds = 0.0
            return None, None
        cache_dir = Path(self.cfg.cache_dir) if self.cfg.cache_dir else self.out_dir / "ref-cache"
        started = time.perf_counter()
        sums = []
        for pairs in (self.train_pairs, self.eval_pairs):
            if not pairs:
                sums.append(None)
                continue
            start = time.perf_counter()
            found, hit = refcache.load_or_compute(
                self.acc, self.model, self.model_path, pairs,
                cache_dir=cache_dir, batch_size=self.cfg.batch_size, bf16=self.bf16,
            )
            how = "read from" if hit else f"computed in {time.perf_counter() - start:.1f}s and cached in"
            self._say(f"reference log-probs of {len(pairs)} pairs {how} {cache_dir}")
            sums.append(found)
        self.ref_seconds = time.perf_counter() - started
        return sums[0], sums[1]

    # -- steps --------------------------------------------------------------------------

    def _ref_sums(self, indices: list[int], batch, cached: torch.Tensor | None) -> torch.Tensor:
        if cached is not None:
            return torch.cat([cached[indices, 0], cached[indices, 1]]).to(self.acc.device)
        model = self.ref_model if self.ref_model is not None else self.model
        with reference_mode(self.acc, model):
            return segment_sums(token_logps(model, batch), batch.segments)

    def _step(self, step: int) -> dict:
        start = time.perf_counter()
        sums = StepSums()
        for micro in range(self.cfg.grad_accum):
            indices = self.stream.indices(step, micro, self.acc.process_index)
            batch = collate([self.train_pairs[i] for i in indices], self.weighting).to(self.acc.device)
            ref = self._ref_sums(indices, batch, self.train_ref)
            with self.acc.accumulate(self.model):
                stats = pair_stats(token_logps(self.model, batch), batch, ref, self.cfg.beta)
                self.acc.backward(stats.losses.mean())
            sums.add(stats, batch.tokens)
        max_norm = self.cfg.max_grad_norm if self.cfg.max_grad_norm > 0 else math.inf
        grad_norm = self.acc.clip_grad_norm_(self.model.parameters(), max_norm)
        lr = self.scheduler.get_last_lr()[0]
        self.optimizer.step()
        self.scheduler.step()
        self.optimizer.zero_grad()
        total, count, tokens = sums.reduce(self.acc)
        seconds = time.perf_counter() - start
        row = {"split": "train", "step": step + 1, "epoch": round(self.stream.epoch_at(step + 1), 4)}
        row.update(named(total, count, rejected_suffix=not self.weighting.drops_rejected_suffix))
        row.update(lr=lr, tokens_per_s=round(tokens / seconds, 1), seconds=round(seconds, 4))
        if grad_norm is not None:  # DeepSpeed clips inside its engine and returns None
            row["grad_norm"] = round(float(grad_norm), 6)
        return row

    def evaluate(self, step: int) -> dict:
        """Loss, reward accuracy and margins on the held-out pairs (every segment, rejected suffix included)."""

        def rows(indices: list[int]) -> torch.Tensor:
            batch = collate([self.eval_pairs[i] for i in indices], self.weighting, trim=False).to(self.acc.device)
            ref = self._ref_sums(indices, batch, self.eval_ref)
            with torch.no_grad():
                return pair_rows(pair_stats(token_logps(self.model, batch), batch, ref, self.cfg.beta))

        self.model.eval()
        try:
            all_rows = map_pairs(self.acc, len(self.eval_pairs), self.cfg.batch_size, rows)
        finally:
            self.model.train()
        return {"split": "eval", "step": step, **named(all_rows.sum(0), len(self.eval_pairs), rejected_suffix=True, prefix="eval_")}

    # -- checkpoints --------------------------------------------------------------------

    def _checkpoint(self, step: int) -> None:
        path = self.out_dir / f"checkpoint-{step}"
        self.acc.save_state(str(path))
        if self.main:
            (path / STATE_FILE).write_text(json.dumps({"step": step, "total_steps": self.total_steps}))
        self.acc.wait_for_everyone()

    def _resume(self) -> int:
        spec = self.cfg.resume_from_checkpoint
        if not spec:
            return 0
        path = latest_checkpoint(self.out_dir) if spec == "latest" else Path(spec)
        if path is None or not (path / STATE_FILE).is_file():
            raise FdpoError(f"no checkpoint to resume from at {path or self.out_dir / 'checkpoint-*'}")
        self.acc.load_state(str(path))
        step = json.loads((path / STATE_FILE).read_text())["step"]
        self._say(f"resumed from {path} at step {step}")
        return step

    # -- the run ------------------------------------------------------------------------

    def run(self) -> dict:
        start = self._resume()
        if self.main:
            self.out_dir.mkdir(parents=True, exist_ok=True)
        metrics = MetricsFile(self.out_dir / "metrics.jsonl", keep_until_step=start) if self.main else None
        last, last_eval = None, None
        loop_started = time.perf_counter()
        bar = progress("step", TextColumn("{task.fields[info]}"))
        bar.disable = not self.main
        with bar:
            task = bar.add_task("train", total=self.total_steps, completed=start, info="")
            for step in range(start, self.total_steps):
                last = self._step(step)
                self._record(metrics, last)
                bar.update(task, advance=1, info=f"loss {last['loss']:.4f} acc {last['reward_accuracy']:.2f}")
                done = step + 1
                if self.eval_pairs and self.cfg.eval_steps and done % self.cfg.eval_steps == 0:
                    last_eval = self._record(metrics, self.evaluate(done))
                if self.cfg.save_steps and done % self.cfg.save_steps == 0:
                    self._checkpoint(done)
        if self.eval_pairs and (last_eval is None or last_eval["step"] != self.total_steps):
            last_eval = self._record(metrics, self.evaluate(self.total_steps))
        self.train_seconds = self.ref_seconds + time.perf_counter() - loop_started
        save_model(self.acc, self.model, self.tokenizer, self.out_dir, self.save_dtype)
        summary = self._summary(last, last_eval)
        if self.main:
            metrics.close()
            write_curves(metrics.records(), self.out_dir / "curves.png")
            run = {"config": self.cfg.as_dict(), "lr": self.lr, "steps": self.total_steps, "summary": summary}
            (self.out_dir / RUN_FILE).write_text(json.dumps(run, indent=2))
        self.acc.wait_for_everyone()
        return summary

    def _record(self, metrics: MetricsFile | None, row: dict) -> dict:
        if metrics is not None:
            metrics.write(row)
        return row

    def _summary(self, last: dict | None, last_eval: dict | None) -> dict:
        summary = {
            "output_dir": str(self.out_dir),
            "pairs": len(self.train_pairs),
            "steps": self.total_steps,
            "global_batch": self.stream.pairs_per_step,
            "lr": self.lr,
            "train_seconds": round(self.train_seconds, 2),  # reference log-probs + steps + evaluation
            "seconds": round(time.perf_counter() - self.started, 1),
        }
        for key in ("loss", "margin", "reward_accuracy"):
            if last is not None:
                summary[key] = last[key]
            if last_eval is not None:
                summary["eval_" + key] = last_eval["eval_" + key]
        return summary

    def _say(self, text: str) -> None:
        if self.main:
            console.print(f"fdpo train: {text}", soft_wrap=True)


def warmup_then_decay(warmup: int, total: int):
    """Linear warm-up then linear decay; unlike the usual schedule the first step's rate is not 0."""

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / (warmup + 1)
        return max(0.0, (total - step) / max(1, total - warmup))

    return factor


def latest_checkpoint(out_dir: Path) -> Path | None:
    found = [p for p in out_dir.glob("checkpoint-*") if p.name.split("-")[-1].isdigit() and (p / STATE_FILE).is_file()]
    return max(found, key=lambda p: int(p.name.split("-")[-1]), default=None)
