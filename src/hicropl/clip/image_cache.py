"""On-disk cache of frozen CLIP image features of evaluation images.

With a deterministic test transform, the frozen (prompt-free) image features of a fixed image list
are the same for every run that uses the same backbone: every seed, method and sweep cell. HiCroPL's
fused logits need them for every test image, so they are computed once and read back afterwards.

The key covers everything that determines the features: the backbone checksum, the dataset and
split names, the exact ordered image list, and the transform's fingerprint. Any change makes a new
entry; stale entries are never reused. Each entry has a SHA-256 checksum beside it
(:mod:`hicropl.checksums`): an entry changed after it was written is discarded and recomputed.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from pathlib import Path

import torch

from hicropl.checksums import checked_torch_save, discard, usable_cache_entry
from hicropl.clip.load import CLIPBackbone


def cache_key(backbone_checksum: str, dataset: str, split: str, image_paths: Sequence[str], transform: str) -> str:
    digest = hashlib.sha256()
    digest.update(json.dumps([backbone_checksum, dataset, split, transform]).encode("utf-8"))
    for path in image_paths:
        digest.update(path.encode("utf-8"))
        digest.update(b"\0")
    return digest.hexdigest()[:40]


class FrozenImageCache:
    """``features(...)`` returns ``[N, d]`` L2-normalised frozen features in the order of ``image_paths``."""

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory) / "image_features"
        self.hits = 0
        self.misses = 0

    def path(self, key: str) -> Path:
        return self.directory / f"{key}.pt"

    def features(
        self,
        backbone: CLIPBackbone,
        *,
        dataset: str,
        split: str,
        image_paths: Sequence[str],
        transform: str,
        loader: Iterable,
    ) -> torch.Tensor:
        """Read the cached features, or compute them from ``loader`` (batches of ``(images, labels,
        indices)`` over the same image list) and store them."""
        key = cache_key(backbone.checksum, dataset, split, image_paths, transform)
        path = self.path(key)
        if usable_cache_entry(path, "frozen image feature cache"):
            try:
                cached = torch.load(path, map_location="cpu", weights_only=True)
                if isinstance(cached, torch.Tensor) and cached.shape[0] == len(image_paths):
                    self.hits += 1
                    return cached
            except Exception:  # a damaged entry is recomputed
                pass
            discard(path)
        self.misses += 1
        features = compute_frozen_features(backbone, loader, len(image_paths))
        checked_torch_save(features, path)
        return features


@torch.no_grad()
def compute_frozen_features(backbone: CLIPBackbone, loader: Iterable, count: int) -> torch.Tensor:
    out: torch.Tensor | None = None
    filled = torch.zeros(count, dtype=torch.bool)
    for batch in loader:
        images, indices = batch[0], batch[2]
        feats = backbone.encode_image(images.to(backbone.device), normalize=True).float().cpu()
        if out is None:
            out = torch.empty(count, feats.shape[-1])
        out[indices] = feats
        filled[indices] = True
    if out is None or not bool(filled.all()):
        raise ValueError("the loader did not cover every image of the list")
    return out
