"""The names of `fdpo rank`'s methods, importable without numpy (so that `fdpo --help` stays light).

Covers the names and the default only; the methods themselves are in ``fdpo.ranking.scoring``.
"""

METHODS = ("codedpo", "pagerank", "count", "codet", "consensus", "dual")
#: Methods whose `correct` candidates are the top candidate's behaviour group (not "passes the truth tests").
CLUSTER_METHODS = ("consensus", "dual")
#: Best pair precision at useful recall on both label benchmarks (docs/rank.md); ``codedpo`` is the paper's.
DEFAULT_METHOD = "dual"
