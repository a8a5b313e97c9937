"""Where a result came from: library version, git commit, package versions, the GPU on CUDA."""

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


def environment(device: torch.device | None = None) -> dict[str, Any]:
    """Versions of what computed a result; with a CUDA ``device``, also the GPU and the cuDNN it used."""
    import open_clip

    record: dict[str, Any] = {
        "hicropl_version": hicropl.__version__,
        "git_commit": git_commit(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "open_clip": open_clip.__version__,
        "cuda": torch.version.cuda,
    }
    if device is not None and device.type == "cuda":
        record["gpu"] = gpu_record(device)
    return record


def gpu_record(device: torch.device) -> dict[str, Any]:
    """The GPU model, its compute capability and memory, the driver's CUDA and the cuDNN version."""
    properties = torch.cuda.get_device_properties(device)
    return {
        "name": properties.name,
        "compute_capability": f"{properties.major}.{properties.minor}",
        "memory_gib": round(properties.total_memory / 2**30, 1),
        "count": torch.cuda.device_count(),
        "cuda_runtime": torch.version.cuda,
        "cudnn": torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None,
        "bf16_supported": torch.cuda.is_bf16_supported(including_emulation=False),
    }
