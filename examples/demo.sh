#!/usr/bin/env bash
# Interim demo: runs the stages that exist on the bundled examples.
set -euo pipefail
echo "fdpo demo: the full demo arrives with the built-in model" >&2
fdpo --help
