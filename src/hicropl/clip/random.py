"""Randomly initialised CLIPs of given shapes: for tests, benchmarks and parameter counts."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

import torch
from open_clip.constants import OPENAI_DATASET_MEAN, OPENAI_DATASET_STD

from hicropl.clip.load import CLIPBackbone, Preprocessing, build_clip_from_config

# Shapes small enough for unit tests on a CPU; head counts follow the 64-wide-head rule that
# architecture inference assumes, so a saved checkpoint of it round-trips through load_clip.
TINY_CLIP_CONFIG: dict[str, Any] = {
    "embed_dim": 32,
    "vision_cfg": {"image_size": 32, "layers": 4, "width": 64, "patch_size": 8, "head_width": 64},
    "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 64, "heads": 1, "layers": 4},
}

VIT_B16_CONFIG: dict[str, Any] = {
    "embed_dim": 512,
    "vision_cfg": {"image_size": 224, "layers": 12, "width": 768, "patch_size": 16, "head_width": 64},
    "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 512, "heads": 8, "layers": 12},
}


def random_clip(
    config: Mapping[str, Any] | None = None,
    seed: int = 0,
    quick_gelu: bool = True,
    device: str | torch.device = "cpu",
) -> CLIPBackbone:
    """A frozen backbone with random weights (``config`` defaults to :data:`TINY_CLIP_CONFIG`)."""
    cfg = copy.deepcopy(dict(config or TINY_CLIP_CONFIG))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = build_clip_from_config(cfg, quick_gelu=quick_gelu)
    return CLIPBackbone(
        model,
        model_name="random",
        source=f"random(seed={seed})",
        checksum=f"random:{seed}:{sorted(cfg.items())!r}",
        preprocessing=Preprocessing(int(cfg["vision_cfg"]["image_size"]), OPENAI_DATASET_MEAN, OPENAI_DATASET_STD),
        config=cfg,
    ).to(device)
