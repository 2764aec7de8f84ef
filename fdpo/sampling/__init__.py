"""The generation engine: everything that asks a model for text (sample, synth, eval; demo through them).

Covers the engines (``backends``: transformers, vLLM, OpenAI-compatible servers),
starting one and decoding with one retry policy and per-problem seeds
(``engine``), prompt texts (``prompting``), reading code and tests out of
responses (``extract``) and the sample stage itself (``candidates``). Does not
cover what the commands do with the text afterwards (synth's checks, eval's
scoring). Kept free of imports so that loading one module loads only what it needs.
"""
