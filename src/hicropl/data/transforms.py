"""Image pipelines of the official recipe (torchvision.transforms.v2), and a stable fingerprint of one.

Geometric steps run on the PIL image, before conversion to a tensor, as in Dassl/CoOp, so the
resampling is PIL's bicubic filter exactly as in the official code.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Literal

import torch
import torchvision
from open_clip.constants import OPENAI_DATASET_MEAN, OPENAI_DATASET_STD
from torchvision.transforms import v2

# OpenAI CLIP's normalisation, as open_clip defines it (a model's own comes with its preprocessing).
CLIP_MEAN: tuple[float, float, float] = OPENAI_DATASET_MEAN
CLIP_STD: tuple[float, float, float] = OPENAI_DATASET_STD

# The training augmentations methods' authors use: CoOp's recipe (``crop_flip``: Dassl's
# random_resized_crop + random_flip) or Dassl's INPUT.TRANSFORMS ["randaugment", "normalize"]
# (``randaugment``: CoPrompt). A method names its own with ``PromptMethod.train_augmentation``.
TrainAugmentation = Literal["crop_flip", "randaugment"]
# Dassl's RandAugment(n=2, m=10) (dassl/data/transforms/transforms.py, "randaugment"): 2 operations per
# image at magnitude 10 of 30. torchvision's RandAugment with 31 magnitude bins puts magnitude 10 at
# the same third of each operation's range; its operation list is torchvision's.
RANDAUGMENT_OPS = 2
RANDAUGMENT_MAGNITUDE = 10


def build_transform(
    train: bool,
    image_size: int = 224,
    mean: Sequence[float] = CLIP_MEAN,
    std: Sequence[float] = CLIP_STD,
    augmentation: TrainAugmentation = "crop_flip",
) -> v2.Compose:
    """Train, ``crop_flip``: RandomResizedCrop(scale 0.08-1, bicubic) -> flip -> tensor -> normalise.
    Train, ``randaugment``: resize to image_size x image_size (bicubic; Dassl resizes both sides when the
    pipeline has no crop) -> RandAugment(2, 10) -> tensor -> normalise.
    Test: resize the shorter side (bicubic) -> centre crop -> tensor -> normalise.
    """
    if isinstance(image_size, bool) or not isinstance(image_size, int) or image_size < 1:
        raise ValueError(f"image_size must be a positive integer, not {image_size!r}")
    if augmentation not in ("crop_flip", "randaugment"):
        raise ValueError(f"augmentation must be 'crop_flip' or 'randaugment', not {augmentation!r}")
    bicubic = v2.InterpolationMode.BICUBIC
    if train and augmentation == "randaugment":
        geometry: list[v2.Transform] = [
            v2.Resize((image_size, image_size), interpolation=bicubic, antialias=True),
            v2.RandAugment(num_ops=RANDAUGMENT_OPS, magnitude=RANDAUGMENT_MAGNITUDE, num_magnitude_bins=31),
        ]
    elif train:
        geometry = [
            v2.RandomResizedCrop(image_size, scale=(0.08, 1.0), interpolation=bicubic, antialias=True),
            v2.RandomHorizontalFlip(p=0.5),
        ]
    else:
        geometry = [v2.Resize(image_size, interpolation=bicubic, antialias=True), v2.CenterCrop(image_size)]
    return v2.Compose(
        [
            *geometry,
            v2.ToImage(),
            v2.ToDtype(torch.float32, scale=True),
            v2.Normalize(mean=list(mean), std=list(std)),
        ]
    )


def transform_fingerprint(transform: object) -> str:
    """SHA-256 of the pipeline's repr and the torchvision version: a cache key for frozen image features.

    Raises ValueError for a pipeline whose repr does not describe it: a memory address (changes
    every run, so the key never hits) or an anonymous ``<lambda>`` (two different lambdas would share
    a key and silently reuse each other's cached features).
    """
    text = repr(transform)
    if " at 0x" in text or "<lambda>" in text:
        raise ValueError(f"cannot fingerprint a transform whose repr does not identify it: {text}")
    return hashlib.sha256(f"torchvision {torchvision.__version__}\n{text}".encode()).hexdigest()
