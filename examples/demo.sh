#!/usr/bin/env bash
# The whole method on the built-in model, stage by stage, as `fdpo demo` runs it (see README.md).
# Run from the repository root after `make demo` or `make test` has made .venv.
set -euo pipefail
P=fdpo/data/tiny_demo.jsonl
OUT=${1:-demo-steps}
mkdir -p "$OUT"
fdpo sample "$P" -m builtin:tiny-coder --backend transformers --seed 0 -o "$OUT/sampled.jsonl"
fdpo execute "$OUT/sampled.jsonl" | fdpo rank -o "$OUT/ranked.jsonl"
fdpo locate "$OUT/ranked.jsonl" --tokenizer builtin:tiny-coder --pairs-per-problem 3 -o "$OUT/pairs.jsonl"
fdpo audit "$OUT/ranked.jsonl" -b "$P" --pairs "$OUT/pairs.jsonl" > /dev/null
fdpo train "$OUT/pairs.jsonl" -m builtin:tiny-coder -O "$OUT/focused-dpo"
fdpo eval -b fdpo/data/tiny_eval.jsonl -m "$OUT/focused-dpo" --report "$OUT/fdpo.json" > /dev/null
