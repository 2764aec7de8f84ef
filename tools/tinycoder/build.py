"""Build ``builtin:tiny-coder`` from a seed: corpus → tokenizer → training → model folder + data sets.

``python -m tools.tinycoder.build`` writes the shipped model folder and the held-out problem
sets, then compares every file's SHA-256 with ``manifest.json`` (the recipe and hashes of the
shipped build): same recipe, same torch/transformers/tokenizers versions and CPU kind give the
same bytes. ``--update-manifest`` records a new build after the recipe changed on purpose.
Does not cover what the problems are (``families``, ``corpus``).
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import itertools
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path

PACKAGE = Path(__file__).parents[2] / "fdpo"  # the shipped files stay in the runtime package
MANIFEST = Path(__file__).with_name("manifest.json")
MODEL_DIR = PACKAGE / "builtin" / "tiny-coder"
DATA_DIR = PACKAGE / "data"
DEMO_FILE, EVAL_FILE = "tiny_demo.jsonl", "tiny_eval.jsonl"


@dataclass(frozen=True)
class Recipe:
    seed: int = 0
    vocab_size: int = 1024
    tokenizer_documents: int = 4000
    hidden_size: int = 192
    layers: int = 3
    intermediate_size: int = 512
    max_positions: int = 1024
    row_tokens: int = 512
    batch_rows: int = 4
    steps: int = 1200
    peak_lr: float = 3e-3
    warmup: int = 100
    floor: float = 0.1
    weight_decay: float = 0.1
    n_demo: int = 330
    n_eval: int = 154
    demo_first: int = 66  # demo problems drawn before the evaluation set (the rest: after it)


def training_rows(tokenizer, recipe: Recipe) -> list[tuple[list[int], list[int]]]:
    from tools.tinycoder.corpus import training_documents
    from tools.tinycoder.tokenizer import encode, pack

    documents = training_documents(recipe.seed)

    def sequences():
        while True:
            yield from encode(tokenizer, list(itertools.islice(documents, 1000)))

    return list(itertools.islice(pack(sequences(), recipe.row_tokens), recipe.steps * recipe.batch_rows))


def train_model(recipe: Recipe, out: Path) -> None:
    """Train the model and write its Hugging Face folder to ``out``."""
    from fdpo.console import console, progress
    from tools.randmodel import qwen2_config
    from tools.tinycoder.corpus import training_documents
    from tools.tinycoder.tokenizer import train_tokenizer
    from tools.tinycoder.train import deterministic_torch, new_model, pretrain

    with console.status("tokenizer and corpus"):
        tokenizer = train_tokenizer(
            itertools.islice(training_documents(recipe.seed), recipe.tokenizer_documents),
            recipe.vocab_size,
            recipe.max_positions,
        )
        rows = training_rows(tokenizer, recipe)
    config = qwen2_config(
        tokenizer,
        hidden_size=recipe.hidden_size,
        layers=recipe.layers,
        intermediate_size=recipe.intermediate_size,
        max_positions=recipe.max_positions,
    )
    from rich.progress import TextColumn

    start, seen = time.perf_counter(), [0]
    with deterministic_torch(), progress("step", TextColumn("{task.fields[info]}")) as bar:
        model = new_model(config, recipe.seed)
        task = bar.add_task("train tiny-coder", total=len(rows) // recipe.batch_rows, info="")

        def on_step(step: int, loss: float, tokens: int) -> None:
            seen[0] += tokens
            rate = seen[0] / (time.perf_counter() - start)
            bar.update(task, advance=1, info=f"loss {loss:.3f}  {rate:,.0f} tok/s")

        pretrain(
            model,
            rows,
            pad_id=tokenizer.pad_token_id,
            batch_rows=recipe.batch_rows,
            peak_lr=recipe.peak_lr,
            warmup=recipe.warmup,
            floor=recipe.floor,
            weight_decay=recipe.weight_decay,
            on_step=on_step,
        )
    seconds = time.perf_counter() - start
    console.print(f"trained on {seen[0]:,} tokens in {seconds:.0f}s ({seen[0] / seconds:,.0f} tok/s, 1 thread)")
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.save_pretrained(out, safe_serialization=True)
    tokenizer.save_pretrained(out)


def write_data(recipe: Recipe, data_dir: Path) -> None:
    from fdpo.jsonl import write_records
    from tools.tinycoder.corpus import held_out_sets

    demo, evaluation = held_out_sets(recipe.seed, recipe.n_demo, recipe.n_eval, recipe.demo_first)
    data_dir.mkdir(parents=True, exist_ok=True)
    write_records(data_dir / DEMO_FILE, demo)
    write_records(data_dir / EVAL_FILE, evaluation)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def file_hashes(model_dir: Path, data_dir: Path) -> dict[str, str]:
    files = {f"model/{p.name}": p for p in sorted(model_dir.iterdir()) if p.is_file()}
    files.update({f"data/{name}": data_dir / name for name in (DEMO_FILE, EVAL_FILE)})
    return {name: sha256(path) for name, path in files.items()}


def versions() -> dict[str, str]:
    import tokenizers
    import torch
    import transformers

    return {"torch": torch.__version__, "transformers": transformers.__version__, "tokenizers": tokenizers.__version__}


def manifest(recipe: Recipe, hashes: dict[str, str]) -> dict:
    return {"recipe": dataclasses.asdict(recipe), "versions": versions(), "files": hashes}


def compare(built: dict, shipped: dict) -> list[str]:
    """What differs between two manifests, as lines for humans; empty when identical."""
    if built["recipe"] != shipped["recipe"]:
        return ["the recipe differs from the shipped one"]
    lines = [f"{name}: {shipped['files'].get(name)} shipped, {digest} built"
             for name, digest in built["files"].items() if shipped["files"].get(name) != digest]
    if lines and built["versions"] != shipped["versions"]:
        lines.append(f"versions differ: shipped {shipped['versions']}, here {built['versions']}")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.tinycoder.build", description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=MODEL_DIR, help="model folder to write")
    parser.add_argument("--data-dir", type=Path, default=DATA_DIR, help=f"where {DEMO_FILE} and {EVAL_FILE} go")
    parser.add_argument("--seed", type=int, default=Recipe.seed)
    parser.add_argument("--steps", type=int, default=Recipe.steps, help="training steps (the shipped recipe: %(default)s)")
    parser.add_argument("--update-manifest", action="store_true", help="record this build as the shipped one")
    args = parser.parse_args(argv)

    from fdpo.console import console

    recipe = Recipe(seed=args.seed, steps=args.steps)
    args.out.mkdir(parents=True, exist_ok=True)
    train_model(recipe, args.out)
    write_data(recipe, args.data_dir)
    built = manifest(recipe, file_hashes(args.out, args.data_dir))
    if args.update_manifest:
        MANIFEST.write_text(json.dumps(built, indent=2) + "\n")
        console.print(f"wrote {MANIFEST}")
        return 0
    differences = compare(built, json.loads(MANIFEST.read_text())) if MANIFEST.is_file() else ["no manifest"]
    if not differences:
        console.print("[green]bit-for-bit identical to the shipped build[/]")
        return 0
    console.print("[yellow]differs from the shipped build:[/]\n  " + "\n  ".join(differences))
    return 1


if __name__ == "__main__":
    sys.exit(main())
