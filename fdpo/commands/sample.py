"""fdpo sample: the policy writes code candidates and tests for each problem.

Covers the command line only; the stage itself (batching, seeds, extraction,
counting) is ``fdpo.sampling.candidates``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from fdpo.errors import handle_errors
from fdpo.options import (
    ApiKeyEnvOpt,
    BackendOpt,
    BaseUrlOpt,
    BatchSizeOpt,
    ConcurrencyOpt,
    DtypeOpt,
    InputArg,
    MaxTokensOpt,
    ModelOpt,
    OutputOpt,
    ResumeOpt,
    SeedOpt,
    ShardOpt,
    SkipInvalidOpt,
    StyleOpt,
    TemperatureOpt,
    TensorParallelOpt,
    TopPOpt,
    at_least,
    stage_io,
)
from fdpo.sampling.candidates import Settings, sample_transform
from fdpo.sampling.engine import Decoding, EngineOptions
from fdpo.sampling.prompting import read_template
from fdpo.stage import run_stage

HELP = """Sample code candidates and tests for each problem from the policy model.

Reads problem records (id, prompt, entry_point when known) and writes them back with `candidates` and `tests` (each {id, response, code}) and `sampling`. The defaults are the paper's: 10 candidates and 10 test generations per problem at temperature 1.5.

Example: fdpo sample problems.jsonl -m builtin:tiny-coder --seed 0 -o sampled.jsonl"""


@handle_errors("sample")
def command(
    model: ModelOpt,
    input: InputArg = None,
    output: OutputOpt = None,
    backend: BackendOpt = None,
    style: StyleOpt = "auto",
    n_code: Annotated[int, typer.Option("--n-code", callback=at_least(1), help="Code candidates per problem.")] = 10,
    n_tests: Annotated[int, typer.Option("--n-tests", callback=at_least(0), help="Test generations per problem (0: none).")] = 10,
    temperature: TemperatureOpt = 1.5,
    top_p: TopPOpt = 1.0,
    max_tokens: MaxTokensOpt = 512,
    seed: SeedOpt = None,
    batch_size: BatchSizeOpt = None,
    max_tests: Annotated[
        int, typer.Option("--max-tests", callback=at_least(0), help="Most distinct single-assert tests kept per problem.")
    ] = 30,
    code_template: Annotated[
        Optional[Path], typer.Option("--code-template", help="Template file for code prompts ({prompt}, {entry_point}).", show_default=False)
    ] = None,
    test_template: Annotated[
        Optional[Path], typer.Option("--test-template", help="Template file for test prompts ({prompt}, {entry_point}).", show_default=False)
    ] = None,
    base_url: BaseUrlOpt = None,
    api_key_env: ApiKeyEnvOpt = None,
    concurrency: ConcurrencyOpt = 8,
    tensor_parallel_size: TensorParallelOpt = 1,
    dtype: DtypeOpt = "auto",
    resume: ResumeOpt = False,
    shard: ShardOpt = None,
    skip_invalid: SkipInvalidOpt = False,
) -> None:
    engine = EngineOptions(model, backend, base_url, api_key_env, concurrency, tensor_parallel_size, dtype, seed)
    engine.check()  # a missing or empty model folder fails now, not after reading input
    decoding = Decoding(temperature, max_tokens, top_p, seed, style, batch_size)
    templates = {k: read_template(p) for k, p in (("code", code_template), ("test", test_template)) if p}
    settings = Settings(engine, decoding, n_code, n_tests, max_tests, templates)
    run_stage("sample", stage_io(input, output, resume, shard, skip_invalid), sample_transform(settings), unit="problem",
              live=("tok/s",))
