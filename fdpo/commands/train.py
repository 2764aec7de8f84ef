"""fdpo train: Focused-DPO training on a pairs file → a Hugging Face model folder.

Covers the command line (flags, ``--config`` YAML, flags overriding it) and the
one-line JSON summary on stdout; the trainer itself is ``fdpo.training``. Does
not cover making pairs (``fdpo locate``) or evaluating the model (``fdpo eval``).
"""

import json
import os
import sys
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer

from fdpo.errors import FdpoError, UsageError, handle_errors
from fdpo.models import check_model
from fdpo.options import InputArg, ModelOpt, at_least, fraction, non_negative, positive
from fdpo.stage import check_output
from fdpo.training.config import SettingError, TrainConfig, merge, read_yaml

NO_ARGS_IS_HELP = True
D = TrainConfig()

HELP = """Train a model with Focused-DPO on preference pairs.

Reads the pairs of `fdpo locate`, or any prompt/chosen/rejected preference file (a pair without spans trains as plain DPO), and writes to --output-dir a model folder that transformers and vLLM load unchanged, metrics.jsonl, curves.png and checkpoint-N folders.

Several GPUs or nodes: `accelerate launch -m fdpo train ...` (see docs/training.md).

Example: fdpo train pairs.jsonl --model builtin:tiny-coder --output-dir out/"""


class RejectedSuffix(str, Enum):
    drop = "drop"
    keep = "keep"


class Reference(str, Enum):
    cached = "cached"
    online = "online"


@handle_errors("train")
def command(
    ctx: typer.Context,
    input: InputArg = None,
    model: ModelOpt = None,
    output_dir: Annotated[
        Optional[Path], typer.Option("--output-dir", "-O", help="Folder for the model, metrics.jsonl, curves.png, checkpoints.")
    ] = None,
    config: Annotated[
        Optional[Path], typer.Option("--config", help="YAML file of options (keys as flag names); flags given here win.")
    ] = None,
    eval_pairs: Annotated[
        Optional[Path], typer.Option("--eval-pairs", help="Held-out pairs: loss, reward accuracy and margins at the end.")
    ] = None,
    beta: Annotated[float, typer.Option("--beta", callback=positive, help="DPO temperature β.")] = D.beta,
    w_focused: Annotated[
        float, typer.Option("--w-focused", callback=non_negative, help="Weight w of the error-prone mid.")
    ] = D.w_focused,
    rejected_suffix: Annotated[
        RejectedSuffix, typer.Option("--rejected-suffix", help="drop: the rejected suffix gets weight 0 (Focused-DPO).")
    ] = RejectedSuffix(D.rejected_suffix),
    weight_rejected_mid: Annotated[
        bool,
        typer.Option("--weight-rejected-mid/--no-weight-rejected-mid", help="Weight the rejected mid by w too (else 1)."),
    ] = D.weight_rejected_mid,
    no_focus: Annotated[bool, typer.Option("--no-focus", help="Plain DPO on the same pairs (all weights 1).")] = D.no_focus,
    ref: Annotated[
        Reference, typer.Option("--ref", help="cached: reference log-probs computed once; online: every step.")
    ] = Reference(D.ref),
    cache_dir: Annotated[
        Optional[Path], typer.Option("--cache-dir", help="Reference cache folder (default OUTPUT_DIR/ref-cache).")
    ] = None,
    epochs: Annotated[
        float, typer.Option("--epochs", callback=non_negative, help="Passes over the pairs (ignored with --max-steps).")
    ] = D.epochs,
    max_steps: Annotated[
        int, typer.Option("--max-steps", callback=at_least(0), help="Optimizer steps; 0: from --epochs.")
    ] = D.max_steps,
    lr: Annotated[
        Optional[float],
        typer.Option("--lr", callback=positive, help="Peak learning rate. Default: 1e-6·√(7B/params), ≤1e-4; ×10 with --lora."),
    ] = D.lr,
    batch_size: Annotated[
        int, typer.Option("--batch-size", callback=at_least(1), help="Pairs per process per micro-batch.")
    ] = D.batch_size,
    grad_accum: Annotated[
        int, typer.Option("--grad-accum", callback=at_least(1), help="Micro-batches per optimizer step.")
    ] = D.grad_accum,
    max_length: Annotated[
        int, typer.Option("--max-length", callback=at_least(2), help="Tokens of prompt + response, at most.")
    ] = D.max_length,
    warmup_ratio: Annotated[
        float, typer.Option("--warmup-ratio", callback=fraction, help="Fraction of steps of linear warm-up.")
    ] = D.warmup_ratio,
    weight_decay: Annotated[
        float, typer.Option("--weight-decay", callback=non_negative, help="AdamW weight decay.")
    ] = D.weight_decay,
    max_grad_norm: Annotated[
        float, typer.Option("--max-grad-norm", callback=non_negative, help="Clip gradients to this norm; 0: off.")
    ] = D.max_grad_norm,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the pair order and of torch.")] = D.seed,
    bf16: Annotated[bool, typer.Option("--bf16", help="bf16 autocast (float32 master weights).")] = D.bf16,
    gradient_checkpointing: Annotated[
        bool, typer.Option("--gradient-checkpointing", help="Recompute activations to save memory.")
    ] = D.gradient_checkpointing,
    lora: Annotated[bool, typer.Option("--lora", help="Train LoRA adapters (peft); merged into the saved model.")] = D.lora,
    lora_r: Annotated[int, typer.Option("--lora-r", callback=at_least(1), help="LoRA rank.")] = D.lora_r,
    lora_alpha: Annotated[int, typer.Option("--lora-alpha", callback=at_least(1), help="LoRA alpha.")] = D.lora_alpha,
    save_steps: Annotated[
        int, typer.Option("--save-steps", callback=at_least(0), help="Write checkpoint-N every N steps; 0: never.")
    ] = D.save_steps,
    eval_steps: Annotated[
        int, typer.Option("--eval-steps", callback=at_least(0), help="Evaluate --eval-pairs every N steps too.")
    ] = D.eval_steps,
    resume_from_checkpoint: Annotated[
        Optional[str], typer.Option("--resume-from-checkpoint", help="A checkpoint-N folder, or 'latest' in --output-dir.")
    ] = None,
) -> None:
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    flags = {name: _plain(value) for name, value in ctx.params.items()}
    flags["pairs"] = flags.pop("input")
    given = {name for name in ctx.params if ctx.get_parameter_source(name).name not in ("DEFAULT", "DEFAULT_MAP")}
    if "input" in given:
        given.add("pairs")
    try:
        settings = merge(read_yaml(config) if config else {}, flags, given)
    except SettingError as exc:  # a flag's value (exit 2), or one from --config (exit 1)
        if exc.field in given:
            raise UsageError(str(exc)) from None
        raise FdpoError(f"{exc} (in {config})" if config else str(exc)) from None
    check_output(settings.output_dir, "--output-dir", folder=True)  # before the model loads, not after training
    check_model(settings.model)  # a missing or empty model folder: now, not after the imports and the pairs

    # heavy (torch, transformers, accelerate): loaded only when training starts, after the checks above
    from accelerate import PartialState

    from fdpo.training.loop import train

    summary = train(settings)
    if PartialState().is_main_process:
        sys.stdout.write(json.dumps(summary) + "\n")


def _plain(value):
    if isinstance(value, Enum):
        return value.value
    return str(value) if isinstance(value, Path) else value
