"""Where an institution's prompt WAV files live: ``<data_dir>/prompts/<institution slug>/``."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from callvault.config import get_settings


def prompt_root(tenant_slug: str) -> Path:
    return get_settings().data_dir / "prompts" / tenant_slug


def exists_in(root: Path) -> Callable[[str], bool]:
    """A check for prompt names (already restricted by the flow schema to relative ``.wav`` paths)."""

    def exists(name: str) -> bool:
        path = (root / name).resolve()
        return path.is_relative_to(root.resolve()) and path.is_file()

    return exists
