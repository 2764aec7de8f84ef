"""Model names: ``builtin:NAME``, local folders and Hugging Face hub names, checked before loading.

Covers the built-in model registry (``resolve_model``), telling a folder from a hub
name and refusing a missing or empty folder (``check_model``, no network), and making
sure a hub name can be had before anything loads (``find_model``): from the cache, or
from the Hub after one short request, so that an offline run fails at once with what to
do instead of retrying for a minute. Loading models is the backends' and the trainer's job.
"""

from __future__ import annotations

import os
from pathlib import Path

from fdpo.errors import FdpoError

BUILTIN_DIR = Path(__file__).parent / "builtin"
PREFIX = "builtin:"
#: Files that make a folder a model (or a tokenizer) folder; the first is what the cache is asked for.
NEEDS = {"model": ("config.json",), "tokenizer": ("tokenizer_config.json", "tokenizer.json")}
#: Seconds the one request that checks a hub name may take.
HUB_TIMEOUT = 10.0


def builtin_names() -> list[str]:
    if not BUILTIN_DIR.is_dir():
        return []
    return sorted(p.name for p in BUILTIN_DIR.iterdir() if (p / "config.json").is_file())


def resolve_model(name: str) -> str:
    """The path or hub name to hand to transformers / vLLM for ``name``."""
    if not name.startswith(PREFIX):
        return name
    short = name[len(PREFIX):]
    folder = BUILTIN_DIR / short
    if not (folder / "config.json").is_file():
        known = ", ".join(PREFIX + n for n in builtin_names()) or "none installed"
        raise FdpoError(f"unknown built-in model {name!r} (known: {known})")
    return str(folder)


def looks_local(name: str) -> bool:
    """Whether ``name`` means a folder: one that exists, or a path no hub name ("org/name") can be."""
    return os.path.exists(os.path.expanduser(name)) or name.startswith(("/", ".", "~")) or name.count("/") > 1


def check_model(name: str, need: str = "model") -> str:
    """``resolve_model``, and a local ``name`` must be a folder with a ``need`` (model or
    tokenizer) in it. No network: a hub name is returned unchecked."""
    path = resolve_model(name)
    if not looks_local(path):
        return path
    folder = Path(os.path.expanduser(path))
    if not folder.exists():
        raise FdpoError(
            f"{name}: no such folder (a {need} is a folder, a Hugging Face hub name such as "
            "Qwen/Qwen2.5-Coder-1.5B-Instruct, or builtin:tiny-coder)"
        )
    if not folder.is_dir():
        raise FdpoError(f"{name}: is a file, not a {need} folder")
    files = NEEDS[need]
    if not any((folder / f).is_file() for f in files):
        what = "it is empty" if not any(folder.iterdir()) else f"it has no {' or '.join(files)}"
        raise FdpoError(f"{name}: not a Hugging Face {need} folder ({what})")
    return str(folder)


def find_model(name: str, need: str = "model") -> str:
    """``check_model``, then for a hub name make sure it can be had: in the Hugging Face
    cache, or on a Hub that answers within ``HUB_TIMEOUT``. Fails at once offline."""
    path = check_model(name, need)
    if not looks_local(path):
        _check_hub(path, need)
    return path


def offline() -> bool:
    """HF_HUB_OFFLINE (or TRANSFORMERS_OFFLINE) is set: nothing may be downloaded."""
    from huggingface_hub import constants

    on = ("1", "on", "yes", "true")
    flags = (os.environ.get("HF_HUB_OFFLINE", ""), os.environ.get("TRANSFORMERS_OFFLINE", ""))
    return any(f.strip().lower() in on for f in flags) or bool(constants.HF_HUB_OFFLINE)


def _check_hub(repo: str, need: str) -> None:
    from huggingface_hub import HfApi, try_to_load_from_cache
    from huggingface_hub.errors import GatedRepoError, HFValidationError, RepositoryNotFoundError

    try:
        if any(isinstance(try_to_load_from_cache(repo, f), str) for f in NEEDS[need]):
            return
    except HFValidationError:
        raise FdpoError(f"{repo}: no such folder, and not a Hugging Face hub name (org/name)") from None
    fix = f"give a local folder, or download it first (`hf download {repo}` where there is a network)"
    if offline():
        raise FdpoError(f"{repo}: no such folder, and not in the Hugging Face cache while HF_HUB_OFFLINE is set: {fix}")
    try:
        HfApi().model_info(repo, timeout=HUB_TIMEOUT)
    except GatedRepoError:
        raise FdpoError(f"{repo} is gated: accept its terms on huggingface.co and log in (`hf auth login`)") from None
    except RepositoryNotFoundError:
        raise FdpoError(
            f"{repo}: no such folder, and no such model on the Hugging Face Hub (a private one needs `hf auth login`)"
        ) from None
    except Exception as exc:  # noqa: BLE001 - no network: whatever the HTTP client raises
        raise FdpoError(
            f"{repo}: no such folder, and the Hugging Face Hub cannot be reached ({exc}): check the network, {fix}"
        ) from None
