"""The built-in model ``builtin:tiny-coder``: its task families, corpus, and the build that trains it.

``python -m tools.tinycoder.build`` rebuilds the shipped folder ``fdpo/builtin/tiny-coder`` and the
held-out problem sets ``fdpo/data/tiny_demo.jsonl`` and ``fdpo/data/tiny_eval.jsonl`` from a seed.
"""
