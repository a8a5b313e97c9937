"""hicropl: HiCroPL and prompt-learning baselines for frozen CLIP backbones."""

from hicropl.clip.load import CLIPBackbone, load_clip

# The one place the version is written: pyproject.toml reads it from here (setuptools dynamic version).
__version__ = "0.1.0"

__all__ = ["CLIPBackbone", "__version__", "load_clip"]
