"""The shipped tiny ToyWorld CLIP: where it is, its checksum, how it was made, how to load it."""

from __future__ import annotations

from pathlib import Path

import torch

from hicropl.clip.load import CLIPBackbone, load_clip
from hicropl.clip.shipped import TOYWORLD_CLIP, verified_file
from hicropl.clip.shipped import WeightsChecksumError as WeightsChecksumError

# The weights are also loadable by name: load_clip("toyworld"), --clip toyworld (hicropl.clip.shipped).
WEIGHTS_FILE = TOYWORLD_CLIP.file
# SHA-256 of resources/toyworld_clip.safetensors, produced by PRETRAIN_COMMAND.
WEIGHTS_SHA256 = TOYWORLD_CLIP.sha256
PRETRAIN_SEED = 0
PRETRAIN_STEPS = 4000
PRETRAIN_COMMAND = (
    f"hicropl toyworld pretrain --output runs/toyworld_pretrain --steps {PRETRAIN_STEPS} --seed {PRETRAIN_SEED}"
)


def shipped_weights_file() -> Path:
    """The path of the shipped weights inside the installed package (not verified)."""
    return TOYWORLD_CLIP.path()


def toyworld_weights_path() -> Path:
    """The shipped weights file, after checking its SHA-256 against :data:`WEIGHTS_SHA256`.

    Raises :class:`WeightsChecksumError` for a damaged file and :class:`CheckpointError` for a missing one.
    """
    return verified_file(TOYWORLD_CLIP, shipped_weights_file())


def load_toyworld_clip(device: str | torch.device = "cpu") -> CLIPBackbone:
    """The frozen tiny ToyWorld CLIP from the shipped, checksum-verified weights."""
    return load_clip(toyworld_weights_path(), device=device)


# Zero-shot top-1 (%) of the shipped weights with "a photo of a {}." on each downstream test split
# (30 images per class; base = first 40 classes, new = last 40), measured by
# hicropl.toyworld.probe.zero_shot_accuracy and equal to `hicropl zero-shot` on the generated folders.
ZERO_SHOT_ACCURACY: dict[str, dict[str, float]] = {
    "ToyWorldShapes": {"base": 40.00, "new": 40.83},
    "ToyWorldGlyphs": {"base": 45.08, "new": 57.25},
}
