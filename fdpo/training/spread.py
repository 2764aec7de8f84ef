"""Running a function over every pair, split across processes, rows gathered in order.

Covers splitting pair indices into equal contiguous slices (the last slice padded
with the last index, so every process runs the same number of forward passes, as
FSDP and ZeRO-3 require) and gathering each pair's row back into place. Does not
cover what is computed (reference sums, evaluation).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch


def my_indices(n: int, rank: int, world: int) -> list[int]:
    per = math.ceil(n / world)
    return [min(i, n - 1) for i in range(rank * per, (rank + 1) * per)]


def map_pairs(accelerator, n: int, batch_size: int, fn: Callable[[list[int]], torch.Tensor]) -> torch.Tensor:
    """[n, ...] rows of ``fn(indices)`` (which returns one row per index), on every process."""
    mine = my_indices(n, accelerator.process_index, accelerator.num_processes)
    rows = torch.cat([fn(mine[i : i + batch_size]).float() for i in range(0, len(mine), batch_size)])
    index = torch.tensor(mine, device=rows.device)
    rows, index = accelerator.gather(rows).cpu(), accelerator.gather(index).cpu()
    out = torch.empty((n, *rows.shape[1:]), dtype=rows.dtype)
    out[index] = rows  # padded duplicates write the same row twice
    return out
