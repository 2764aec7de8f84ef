"""``fdpo eval``'s engine: benchmarks, candidate programs, expected outputs, pass@k, reports.

Covers loading HumanEval, HumanEval+, MBPP(+), LiveCodeBench and benchmark files,
turning a completion into a program plus tests for the sandbox, EvalPlus-style
output checking, scoring and reporting. Does not cover running code (see
``fdpo.sandbox``) or generating it (see ``fdpo.sampling.backends``).
"""
