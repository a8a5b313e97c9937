"""hicropl: HiCroPL and prompt-learning baselines for frozen CLIP backbones."""

from hicropl.clip.load import CLIPBackbone, load_clip

__version__ = "0.1.0"

__all__ = ["CLIPBackbone", "__version__", "load_clip"]
