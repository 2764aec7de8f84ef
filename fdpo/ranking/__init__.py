"""``fdpo rank``'s engine: self-verified labels from an executed record's pass matrix.

Covers the method names and the default (``methods``, standard library only, so
that ``fdpo --help`` can show them without numpy) and the scoring itself
(``scoring``: the pass matrix, every method's scores, the split into
``correct`` / ``incorrect``, the confidence and its evidence; numpy). Does not
cover running code (``fdpo.execution``, ``fdpo.sandbox``), building pairs
(``fdpo.locating``) or the command line (``fdpo.commands.rank``).
Imports nothing, so that ``fdpo.ranking.methods`` stays light.
"""
