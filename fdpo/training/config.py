"""Training settings: one dataclass, read from ``--config FILE`` (YAML) and overridden by flags.

Covers the fields and defaults of ``TrainConfig``, loading a YAML file (keys are
the flag names, with ``-`` or ``_``), the rule that a flag given on the command
line beats the file which beats the default, checking values (with the flags' own
checks from ``fdpo.options``), and the automatic learning rate. Does not cover
running anything.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from fdpo.errors import FdpoError
from fdpo.options import at_least, fraction, non_negative, one_of, positive

REJECTED_SUFFIX = ("drop", "keep")
REF_MODES = ("cached", "online")
#: The check on each setting: the flag's own callback, applied here to values from --config too.
RULES = {
    "beta": positive,
    "w_focused": non_negative,
    "rejected_suffix": one_of(*REJECTED_SUFFIX),
    "ref": one_of(*REF_MODES),
    "epochs": non_negative,
    "max_steps": at_least(0),
    "lr": positive,
    "batch_size": at_least(1),
    "grad_accum": at_least(1),
    "max_length": at_least(2),
    "warmup_ratio": fraction,
    "weight_decay": non_negative,
    "max_grad_norm": non_negative,
    "lora_r": at_least(1),
    "lora_alpha": at_least(1),
    "save_steps": at_least(0),
    "eval_steps": at_least(0),
}


@dataclass
class TrainConfig:
    pairs: str | None = None
    model: str | None = None
    output_dir: str | None = None
    eval_pairs: str | None = None
    # The objective.
    beta: float = 0.1
    w_focused: float = 2.0
    rejected_suffix: str = "drop"
    weight_rejected_mid: bool = True
    no_focus: bool = False
    ref: str = "cached"
    cache_dir: str | None = None
    # Optimisation. Batch sizes are per process; the global batch is batch_size × processes × grad_accum.
    epochs: float = 1.0
    max_steps: int = 0
    lr: float | None = None
    batch_size: int = 4
    grad_accum: int = 4
    max_length: int = 1024
    warmup_ratio: float = 0.1
    weight_decay: float = 0.0
    max_grad_norm: float = 1.0
    seed: int = 0
    bf16: bool = False
    gradient_checkpointing: bool = False
    lora: bool = False
    lora_r: int = 16
    lora_alpha: int = 32
    # Bookkeeping.
    save_steps: int = 0
    eval_steps: int = 0
    resume_from_checkpoint: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


FIELDS = {f.name for f in fields(TrainConfig)}


class SettingError(FdpoError):
    """A refused setting; ``field`` names it (given as a flag, it is a usage error)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def read_yaml(path: str | Path) -> dict[str, Any]:
    import yaml

    p = Path(path)
    if not p.is_file():
        raise FdpoError(f"{p}: no such config file")
    try:
        data = yaml.safe_load(p.read_text()) or {}
    except UnicodeDecodeError:
        raise FdpoError(f"{p}: not a text file (expected YAML)") from None
    except yaml.YAMLError as exc:
        raise FdpoError(f"{p}: invalid YAML{_where(exc)}") from None
    if not isinstance(data, dict):
        raise FdpoError(f"{p}: expected a mapping of option: value")
    values = {str(k).replace("-", "_"): v for k, v in data.items()}
    unknown = sorted(set(values) - FIELDS)
    if unknown:
        raise FdpoError(f"{p}: unknown option(s) {', '.join(unknown)} (known: {', '.join(sorted(FIELDS))})")
    return values


def _where(exc) -> str:
    """Where and what a YAML error is, on one line (PyYAML's own message takes five)."""
    mark, problem = getattr(exc, "problem_mark", None), getattr(exc, "problem", None)
    at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
    return f"{at}: {problem}" if problem else at


def merge(file_values: dict[str, Any], flags: dict[str, Any], given: set[str]) -> TrainConfig:
    """Defaults, then the config file, then the flags given on the command line."""
    values = dict(file_values)
    values.update({k: v for k, v in flags.items() if k in given or k not in values})
    config = TrainConfig(**{k: v for k, v in values.items() if k in FIELDS})
    check(config)
    return config


def check(c: TrainConfig) -> None:
    if not c.model:
        raise FdpoError("--model is required (or 'model:' in --config)")
    if not c.output_dir:
        raise FdpoError("--output-dir is required (or 'output_dir:' in --config)")
    for name, rule in RULES.items():
        why = rule.problem(getattr(c, name))
        if why is not None:
            raise SettingError(name, f"--{name.replace('_', '-')} {why}")
    if c.max_steps == 0 and c.epochs == 0:
        raise SettingError("epochs", "give --epochs > 0 or --max-steps > 0")


def auto_lr(n_params: int) -> float:
    """1e-6 for a 7B model, scaled by √(7B / parameters) for smaller ones, at most 1e-4.

    DPO on 7B code models uses 5e-7 to 1e-6; a 1.5M-parameter model needs ~1e-4 to move
    within a short run.
    """
    return min(1e-4, 1e-6 * math.sqrt(7e9 / max(n_params, 1)))
