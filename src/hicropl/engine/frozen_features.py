"""Frozen image features of an evaluation's images, served from the on-disk cache.

Methods that fuse the frozen CLIP image feature into their logits (HiCroPL, the linear probe) would
otherwise run the frozen image tower over every test image in every run. With the deterministic test
transform those features depend only on the backbone, the image list and the transform, so every
seed, method and sweep cell shares one cache entry (see :mod:`hicropl.clip.image_cache`).
"""

from __future__ import annotations

import logging
from typing import Any

import torch
from torch.utils.data import DataLoader

from hicropl.clip.features import default_cache_dir
from hicropl.clip.image_cache import FrozenImageCache
from hicropl.data.loader import cacheable_images
from hicropl.engine.distributed import DistInfo, barrier
from hicropl.methods.base import PromptMethod

log = logging.getLogger("hicropl.eval")


def cached_frozen_features(
    method: PromptMethod,
    dataset: Any,
    dataset_name: str,
    split: str,
    batch_size: int,
    num_workers: int,
    dist: DistInfo | None = None,
) -> torch.Tensor | None:
    """``[N, d]`` normalised frozen features of ``dataset``'s images in its order, or None when the
    method does not use them or the dataset cannot be cached (no image list, random transform, a
    corrupt image that was replaced)."""
    if not method.uses_frozen_image_features:
        return None
    images = cacheable_images(dataset)
    if images is None:
        return None
    dist = dist or DistInfo()
    cache = FrozenImageCache(default_cache_dir())
    loader = DataLoader(dataset, batch_size=batch_size, num_workers=num_workers, shuffle=False)
    features: torch.Tensor | None = None
    # Under DDP the main process fills the cache once; the others read its entry.
    for turn in (True, False):
        if dist.is_main == turn:
            try:
                features = cache.features(
                    method.backbone,
                    dataset=dataset_name,
                    split=split,
                    image_paths=images.paths,
                    transform=images.transform,
                    loader=loader,
                )
            except ValueError as exc:
                log.warning(
                    "Frozen image features of %s/%s not cached (%s); computing them per batch.",
                    dataset_name,
                    split,
                    exc,
                )
                features = None
        if dist.enabled and turn:
            barrier(dist)
    if features is not None:
        log.info("Frozen image features of %s/%s: %s", dataset_name, split, "cache hit" if cache.hits else "computed")
    return features
