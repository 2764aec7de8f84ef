"""Developer tooling kept out of the runtime package ``fdpo`` (not installed by ``pip install``).

Covers rebuilding the built-in model and its data sets from a seed (``tinycoder``,
``make tiny-coder``), tiny random-weight test models (``randmodel``, used by the
tests and benchmarks) and generating docs/cli.md (``docgen``, ``make docs``).
Run from the repository root (``python -m tools.docgen``); the tests find it
through pytest's ``pythonpath``. Does not cover the shipped model files, which
stay where ``fdpo`` loads them (``fdpo/builtin/``, ``fdpo/data/``).
"""
