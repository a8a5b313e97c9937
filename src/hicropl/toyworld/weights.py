"""The shipped tiny ToyWorld CLIP: where it is, its checksum, how it was made, how to load it."""

from __future__ import annotations

from functools import lru_cache
from importlib import resources
from pathlib import Path

import torch

from hicropl.clip.load import CLIPBackbone, load_clip
from hicropl.clip.weights_file import file_sha256
from hicropl.errors import CheckpointError

WEIGHTS_FILE = "toyworld_clip.safetensors"
# SHA-256 of resources/toyworld_clip.safetensors, produced by PRETRAIN_COMMAND.
WEIGHTS_SHA256 = "935a0263f693ded333f7abcfe9b515b26424a0ae7837823d82aed70b47a6ff56"
PRETRAIN_SEED = 0
PRETRAIN_STEPS = 4000
PRETRAIN_COMMAND = (
    f"hicropl toyworld pretrain --output runs/toyworld_pretrain --steps {PRETRAIN_STEPS} --seed {PRETRAIN_SEED}"
)


class WeightsChecksumError(CheckpointError):
    """The shipped ToyWorld weights do not match their recorded SHA-256."""


def shipped_weights_file() -> Path:
    """The path of the shipped weights inside the installed package (not verified)."""
    return Path(str(resources.files("hicropl.toyworld").joinpath("resources", WEIGHTS_FILE)))


@lru_cache(maxsize=4)
def _verified(path: str, size: int, mtime_ns: int) -> str:
    digest = file_sha256(Path(path))
    if digest != WEIGHTS_SHA256:
        raise WeightsChecksumError(
            f"Checksum mismatch for the ToyWorld CLIP weights {path}: SHA-256 {digest}, expected {WEIGHTS_SHA256}. "
            "The file is damaged or was replaced: reinstall hicropl (pip install --force-reinstall hicropl), or "
            f"rebuild the weights with `{PRETRAIN_COMMAND}` and pass that file instead."
        )
    return digest


def toyworld_weights_path() -> Path:
    """The shipped weights file, after checking its SHA-256 against :data:`WEIGHTS_SHA256`.

    Raises :class:`WeightsChecksumError` for a damaged file and :class:`CheckpointError` for a missing one.
    """
    file = shipped_weights_file()
    if not file.is_file():
        raise CheckpointError(
            f"The ToyWorld CLIP weights {file} are missing from the installation: reinstall hicropl, or rebuild them "
            f"with `{PRETRAIN_COMMAND}`."
        )
    stat = file.stat()
    _verified(str(file.absolute()), stat.st_size, stat.st_mtime_ns)
    return file


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
