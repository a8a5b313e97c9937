"""The CLIP backbone and device of a run, with errors that name the flag to fix."""

from __future__ import annotations

from pathlib import Path

import torch

from hicropl.clip.load import CLIPBackbone, load_clip
from hicropl.clip.shipped import shipped_clip
from hicropl.engine.distributed import DistInfo
from hicropl.errors import CheckpointError, ConfigError


def is_pretrained_tag(source: str) -> bool:
    path = Path(source).expanduser()
    return ":" in source and not path.exists() and not source.startswith(("/", ".", "~"))


def check_clip_source(source: str) -> None:
    """Raise the error a user needs when no weights are given or the weights file is missing."""
    if not source:
        raise ConfigError(
            "No CLIP weights given: pass --clip PATH (a checkpoint file, e.g. ViT-B-16.pt) or an open_clip tag "
            "such as --clip ViT-B-16:openai (or --clip toyworld, the shipped tiny ToyWorld CLIP), set clip: in the "
            "config file, or set HICROPL_CLIP."
        )
    if shipped_clip(source) is None and not is_pretrained_tag(source):
        path = Path(source).expanduser()
        if not path.is_file():
            raise CheckpointError(
                f"The CLIP weights file {path.absolute()} does not exist; pass --clip with the path of a CLIP "
                "checkpoint (e.g. ViT-B-16.pt) or an open_clip tag such as ViT-B-16:openai."
            )


def load_backbone(source: str, device: torch.device) -> CLIPBackbone:
    check_clip_source(source)
    return load_clip(source, device=device)


def resolve_device(requested: str, dist: DistInfo) -> torch.device:
    """``auto``: this process's GPU when there is one, else the CPU."""
    if requested == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", dist.local_rank if dist.enabled else torch.cuda.current_device())
        return torch.device("cpu")
    try:
        device = torch.device(requested)
    except RuntimeError as exc:
        raise ConfigError(f"train.device = {requested!r} is not a device; use auto, cpu, cuda or cuda:N") from exc
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"train.device = {requested!r} but CUDA is not available; use --set train.device=cpu")
    if device.type == "cuda" and dist.enabled and device.index is None:
        device = torch.device("cuda", dist.local_rank)
    return device
