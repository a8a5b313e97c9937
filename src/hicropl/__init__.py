"""hicropl: HiCroPL and prompt-learning baselines for frozen CLIP backbones."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hicropl.clip.load import CLIPBackbone, load_clip

# The one place the version is written: pyproject.toml reads it from here (setuptools dynamic version).
__version__ = "0.1.0"

__all__ = ["CLIPBackbone", "__version__", "load_clip"]


def __getattr__(name: str) -> Any:
    # torch and open_clip load on first use, so `hicropl --help` and `--version` stay quick.
    if name in ("CLIPBackbone", "load_clip"):
        from hicropl.clip import load

        return getattr(load, name)
    raise AttributeError(f"module 'hicropl' has no attribute {name!r}")
