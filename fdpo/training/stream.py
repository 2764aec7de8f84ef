"""Which pairs each process trains on at each step: a deterministic stream of epochs.

Covers the order of training pairs: epoch after epoch, each a permutation drawn
from ``seed + epoch``, laid end to end, so optimizer step ``s`` always reads the
same slots whatever the process count and however the run was resumed. A global
micro-batch is ``batch_size × processes`` consecutive slots, process ``r`` takes
its ``r``-th share; with one process and ``batch_size × processes`` pairs per
batch the run sees exactly the same pairs. Does not cover batching the pairs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field


@dataclass
class PairStream:
    n: int
    seed: int
    batch_size: int  # per process
    world: int = 1
    grad_accum: int = 1
    _perms: dict[int, list[int]] = field(default_factory=dict)

    @property
    def pairs_per_step(self) -> int:
        return self.batch_size * self.world * self.grad_accum

    def steps_for(self, epochs: float) -> int:
        return max(1, math.ceil(epochs * self.n / self.pairs_per_step))

    def epoch_at(self, step: int) -> float:
        return step * self.pairs_per_step / self.n

    def indices(self, step: int, micro: int, rank: int) -> list[int]:
        first = step * self.pairs_per_step + (micro * self.world + rank) * self.batch_size
        return [self._slot(s) for s in range(first, first + self.batch_size)]

    def _slot(self, slot: int) -> int:
        epoch, i = divmod(slot, self.n)
        if epoch not in self._perms:
            import torch

            g = torch.Generator().manual_seed(self.seed + epoch)
            self._perms[epoch] = torch.randperm(self.n, generator=g).tolist()
        return self._perms[epoch][i]
