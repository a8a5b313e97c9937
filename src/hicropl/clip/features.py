"""Frozen class text features: templates, template ensembles, description ensembles, disk cache.

An ensemble encodes every sentence with the frozen text encoder, L2-normalises each embedding,
averages them per class and re-normalises the mean (CLIP's and CoPrompt's recipe). Results are cached
on disk keyed by the backbone checksum and the exact sentences, so a second run with the same weights
and classes does not re-encode thousands of descriptions.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from functools import lru_cache
from importlib import resources
from pathlib import Path

import torch
import torch.nn.functional as F

from hicropl.checksums import checked_torch_save, discard, usable_cache_entry
from hicropl.clip.load import CLIPBackbone


@lru_cache(maxsize=1)
def imagenet_templates() -> tuple[str, ...]:
    """CLIP's 80 ImageNet prompt templates (see resources/SOURCES.md)."""
    text = resources.files("hicropl.clip").joinpath("resources/imagenet_templates.txt").read_text("utf-8")
    return tuple(line for line in text.splitlines() if line.strip())


def readable(classname: str) -> str:
    """Class names in files use ``_`` for spaces; prompts use spaces."""
    return classname.replace("_", " ")


def default_cache_dir() -> Path:
    root = os.environ.get("HICROPL_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "hicropl")
    return Path(root)


@torch.no_grad()
def encode_sentences(
    backbone: CLIPBackbone, sentences: Sequence[str], batch_size: int = 256, normalize: bool = True
) -> torch.Tensor:
    """Frozen text embeddings ``[N, d]`` in fp32, L2-normalised unless ``normalize=False``."""
    chunks = []
    for begin in range(0, len(sentences), batch_size):
        tokens = backbone.tokenize(sentences[begin : begin + batch_size])
        chunks.append(backbone.encode_text(tokens).float())
    embeddings = torch.cat(chunks)
    return F.normalize(embeddings, dim=-1) if normalize else embeddings


def _cache_key(backbone: CLIPBackbone, groups: Sequence[Sequence[str]], normalize_members: bool = True) -> str:
    content: dict[str, object] = {"backbone": backbone.checksum, "groups": [list(g) for g in groups]}
    if not normalize_members:  # only then, so that the keys of the normalised ensembles stay as they were
        content["members"] = "raw"
    payload = json.dumps(content, sort_keys=True)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()[:32]


def ensemble_features(
    backbone: CLIPBackbone,
    groups: Sequence[Sequence[str]],
    cache_dir: Path | None = None,
    normalize_members: bool = True,
) -> torch.Tensor:
    """One feature per group of sentences: normalise each, average, re-normalise -> ``[G, d]``.

    ``normalize_members=False`` averages the raw embeddings instead (PromptSRC's frozen text: the mean
    of the unnormalised features, normalised once). With ``cache_dir`` the result is read from /
    written to ``cache_dir/text_features/<key>.pt``.
    """
    if any(len(group) == 0 for group in groups):
        raise ValueError("every class needs at least one sentence to build its text feature")
    path = None
    if cache_dir is not None:
        path = Path(cache_dir) / "text_features" / f"{_cache_key(backbone, groups, normalize_members)}.pt"
        if usable_cache_entry(path, "text feature cache"):  # checksummed (hicropl.checksums)
            try:
                cached = torch.load(path, map_location="cpu", weights_only=True)
                if isinstance(cached, torch.Tensor) and cached.shape[0] == len(groups):
                    return cached.to(backbone.device)
            except Exception:  # a damaged cache entry is recomputed, never trusted
                pass
            discard(path)
    flat = [sentence for group in groups for sentence in group]
    embeddings = encode_sentences(backbone, flat, normalize=normalize_members)
    means = []
    offset = 0
    for group in groups:
        means.append(embeddings[offset : offset + len(group)].mean(dim=0))
        offset += len(group)
    features = F.normalize(torch.stack(means), dim=-1)
    if path is not None:
        checked_torch_save(features.cpu(), path)
    return features


def template_features(
    backbone: CLIPBackbone,
    classnames: Sequence[str],
    templates: Sequence[str],
    cache_dir: Path | None = None,
    normalize_members: bool = True,
) -> torch.Tensor:
    """Zero-shot classifier weights from one template or an ensemble of templates ``[C, d]``
    (``normalize_members``: see :func:`ensemble_features`)."""
    groups = [[template.format(readable(name)) for template in templates] for name in classnames]
    return ensemble_features(backbone, groups, cache_dir, normalize_members)
