"""Model names: resolves ``builtin:NAME`` to the folder shipped inside the package.

Covers the built-in model registry only; loading models is the backends' and
the trainer's job. Anything that is not ``builtin:…`` is returned unchanged
(a local folder or a Hugging Face hub name).
"""

from __future__ import annotations

from pathlib import Path

from fdpo.errors import FdpoError

BUILTIN_DIR = Path(__file__).parent / "builtin"
PREFIX = "builtin:"


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
