"""Where a result came from: library version, git commit, package versions."""

from __future__ import annotations

import platform
import subprocess
from functools import lru_cache
from pathlib import Path
from typing import Any

import torch

import hicropl


@lru_cache(maxsize=1)
def git_commit() -> str | None:
    """The commit of the hicropl checkout in use (None for an installed wheel or without git)."""
    here = Path(hicropl.__file__).resolve().parent
    try:
        out = subprocess.run(
            ["git", "-C", str(here), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    commit = out.stdout.strip()
    return commit if out.returncode == 0 and len(commit) == 40 else None


def environment() -> dict[str, Any]:
    import open_clip

    return {
        "hicropl_version": hicropl.__version__,
        "git_commit": git_commit(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "open_clip": open_clip.__version__,
        "cuda": torch.version.cuda,
    }
