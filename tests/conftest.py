"""Shared fixtures: a tiny random Qwen2 model folder, the fdpo executable, data paths."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("FDPO_DATA_DIR", ROOT.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    """A random-weight Qwen2 (head_dim 64) with its own small tokenizer, built once per run."""
    from tools.randmodel import build_random_model

    return build_random_model(tmp_path_factory.mktemp("tiny-model") / "model", seed=0)


@pytest.fixture(scope="session")
def fdpo_exe() -> list[str]:
    """The command that runs fdpo as a real process."""
    exe = shutil.which("fdpo", path=str(Path(sys.executable).parent))
    return [exe] if exe else [sys.executable, "-m", "fdpo"]


@pytest.fixture(scope="session")
def data_dir() -> Path:
    assert (SHARED_DATA / "HumanEvalPlus.jsonl.gz").is_file(), f"benchmark data missing in {SHARED_DATA}"
    return SHARED_DATA


@pytest.fixture(autouse=True)
def _data_env(monkeypatch):
    monkeypatch.setenv("FDPO_DATA_DIR", str(SHARED_DATA))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


@pytest.fixture(scope="session")
def eval_cache(tmp_path_factory) -> Path:
    """One expected-output cache per test session: canonical solutions are measured once."""
    return tmp_path_factory.mktemp("eval-cache")


@pytest.fixture
def eval_cache_env(monkeypatch, eval_cache):
    """Point fdpo's expected-output cache (FDPO_CACHE_DIR) at the session's cache."""
    monkeypatch.setenv("FDPO_CACHE_DIR", str(eval_cache))
