"""fdpo: Focused-DPO for code models, as a pipeline of JSONL stages.

The stages (synth, sample, execute, rank, locate, train, eval) live in
``fdpo.commands``; this package root only carries the version.
"""

__version__ = "0.1.0"
