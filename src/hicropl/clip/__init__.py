"""The CLIP backbone: loading, prompt-able encoders, tokenisation and frozen class features."""

from hicropl.clip.encoders import ImagePrompts, PromptedImageEncoder, PromptedTextEncoder, TextPrompts
from hicropl.clip.load import CLIPBackbone, Preprocessing, build_clip_from_config, load_clip
from hicropl.clip.tokens import Tokenizer

__all__ = [
    "CLIPBackbone",
    "ImagePrompts",
    "Preprocessing",
    "PromptedImageEncoder",
    "PromptedTextEncoder",
    "TextPrompts",
    "Tokenizer",
    "build_clip_from_config",
    "load_clip",
]
