"""``fdpo locate``'s engine: preference pairs and their error-prone point.

Covers cutting a (correct, incorrect) pair into shared prefix / mids / shared
suffix on characters or token ids (``spans``), widening mids to whole
expressions or statements with tree-sitter (``snap``), scoring, choosing and
writing the pairs of a ranked record (``pairs``), and the ``--stats`` Phi
analysis of how the segments go with correctness (``phi``). Does not cover
ranking the candidates (``fdpo.ranking``), choosing pairs across problems
(``fdpo.selection``) or the command line (``fdpo.commands.locate``).
Imports nothing, so that importing one submodule stays light.
"""
