"""Training metrics: per-pair rows, their sums across micro-batches and processes, the names.

Covers turning a batch's ``PairStats`` into rows, averaging rows into the named
metrics of ``metrics.jsonl`` (loss, weighted rewards, margin, reward accuracy and
per-segment rewards and margins), and appending them to that file. Does not
cover plotting (see ``plots``).
"""

from __future__ import annotations

from pathlib import Path

import torch

from fdpo.jsonl import dumps, read_records
from fdpo.training.loss import PairStats
from fdpo.training.weights import SEGMENTS

# Columns of a pair row.
LOSS, CHOSEN, REJECTED, CORRECT = 0, 1, 2, 3
CHOSEN_SEG, REJECTED_SEG = slice(4, 7), slice(7, 10)
WIDTH = 10


def pair_rows(stats: PairStats) -> torch.Tensor:
    """[B, WIDTH] one row per pair, detached."""
    return torch.cat(
        [
            torch.stack(
                [stats.losses.detach(), stats.chosen, stats.rejected, (stats.chosen > stats.rejected).to(stats.chosen.dtype)],
                dim=1,
            ),
            stats.chosen_segments,
            stats.rejected_segments,
        ],
        dim=1,
    ).float()


def named(total: torch.Tensor, count: float, *, rejected_suffix: bool, prefix: str = "") -> dict[str, float]:
    """Averages of summed rows; the rejected suffix only where it was computed."""
    mean = (total / max(count, 1.0)).tolist()
    out = {
        "loss": mean[LOSS],
        "reward_chosen": mean[CHOSEN],
        "reward_rejected": mean[REJECTED],
        "margin": mean[CHOSEN] - mean[REJECTED],
        "reward_accuracy": mean[CORRECT],
    }
    chosen, rejected = mean[CHOSEN_SEG], mean[REJECTED_SEG]
    for k, seg in enumerate(SEGMENTS):
        out[f"reward_chosen_{seg}"] = chosen[k]
        if seg != "suffix" or rejected_suffix:
            out[f"reward_rejected_{seg}"] = rejected[k]
            out[f"margin_{seg}"] = chosen[k] - rejected[k]
    return {prefix + k: round(v, 6) for k, v in out.items()}


class StepSums:
    """Sums of pair rows and tokens over one optimizer step's micro-batches."""

    def __init__(self) -> None:
        self.total = torch.zeros(WIDTH + 2)  # + pair count + tokens

    def add(self, stats: PairStats, tokens: int) -> None:
        rows = pair_rows(stats).cpu()
        self.total[:WIDTH] += rows.sum(0)
        self.total[WIDTH] += rows.shape[0]
        self.total[WIDTH + 1] += tokens

    def reduce(self, accelerator) -> tuple[torch.Tensor, float, float]:
        """(summed rows, pairs, tokens) over all processes."""
        total = accelerator.reduce(self.total.to(accelerator.device), reduction="sum").cpu()
        return total[:WIDTH], float(total[WIDTH]), float(total[WIDTH + 1])


class MetricsFile:
    """``metrics.jsonl``: one line per optimizer step and per evaluation, flushed as written."""

    def __init__(self, path: Path, keep_until_step: int | None = None) -> None:
        self.path = path
        kept = []
        if keep_until_step is not None and path.is_file():
            kept = [r for r in read_records(path) if r.get("step", 0) <= keep_until_step]
        self._out = path.open("wb")
        for record in kept:
            self.write(record)

    def write(self, record: dict) -> None:
        self._out.write(dumps(record))
        self._out.flush()

    def close(self) -> None:
        self._out.close()

    def records(self) -> list[dict]:
        return read_records(self.path)
