"""Atomic file writes: a reader sees the old file or the new one, never a partial write.

Every writer goes through ``_replace_atomically``: write a temp file in the same folder (so the
rename stays on one file system), then rename it over the target. On any failure (a full disk, an
interrupt, an object that cannot be serialised) the temp file is removed and the target is left as
it was.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch


def _replace_atomically(path: str | Path, write: Callable[[Path], object]) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(handle)
    try:
        write(Path(tmp))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: str | Path, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    _replace_atomically(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically."""
    _replace_atomically(path, lambda tmp: tmp.write_bytes(data))


def atomic_torch_save(obj: Any, path: str | Path) -> None:
    """``torch.save(obj, path)`` atomically."""
    _replace_atomically(path, lambda tmp: torch.save(obj, tmp))
