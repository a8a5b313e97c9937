"""Frozen text sources against the shipped resources: descriptions, reference embeddings, fallbacks."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch

from hicropl.data import resources
from hicropl.errors import DataError
from hicropl.methods import ClassSet
from hicropl.methods.frozen_text import OPENAI_VIT_B16_SHA256, build_frozen_text

EUROSAT = sorted({row[2] for row in resources.load_split("EuroSAT")["train"]})


def test_shipped_descriptions_build_one_feature_per_class(tiny_backbone):
    classes = ClassSet(tuple(EUROSAT), dataset="EuroSAT", description_file="eurosat_prompt.json")
    frozen = build_frozen_text(tiny_backbone, classes, "llm_mean", cache_dir=None)
    assert frozen.mean.shape == (len(EUROSAT), tiny_backbone.embed_dim)
    assert frozen.source == "llm_descriptions:eurosat_prompt.json"
    torch.testing.assert_close(frozen.mean.norm(dim=-1), torch.ones(len(EUROSAT)))


def test_feature_cache_returns_identical_features(tiny_backbone, tmp_path):
    classes = ClassSet(tuple(EUROSAT), dataset="EuroSAT", description_file="eurosat_prompt.json")
    first = build_frozen_text(tiny_backbone, classes, "llm_mean", cache_dir=tmp_path)
    assert len(list((tmp_path / "text_features").glob("*.pt"))) == 1
    second = build_frozen_text(tiny_backbone, classes, "llm_mean", cache_dir=tmp_path)
    assert torch.equal(first.mean, second.mean)


def test_openai_vit_b16_uses_reference_embeddings_for_imagenet_halves():
    names = [name for _, name in resources.imagenet_classnames()]
    backbone = SimpleNamespace(checksum=OPENAI_VIT_B16_SHA256, source="ViT-B-16.pt", device=torch.device("cpu"))
    table = resources.reference_text_embeddings("ImageNet")
    for half, rows in ((names[:500], slice(0, 500)), (names[500:], slice(500, 1000))):
        frozen = build_frozen_text(backbone, ClassSet(tuple(half), dataset="ImageNet"), "llm_mean", None)
        assert frozen.source == "reference_embeddings:ImageNet"
        np.testing.assert_array_equal(frozen.mean.numpy(), table[rows])


def test_imagenet_on_other_backbones_falls_back_to_templates(tiny_backbone):
    names = tuple(name for _, name in resources.imagenet_classnames()[:5])
    frozen = build_frozen_text(tiny_backbone, ClassSet(names, dataset="ImageNet"), "llm_mean", None)
    assert frozen.source.startswith("templates:imagenet80")


def test_dataset_without_descriptions_needs_a_choice(tiny_backbone):
    with pytest.raises(DataError, match="frozen_text=templates"):
        build_frozen_text(tiny_backbone, ClassSet(("a", "b"), dataset="Mine"), "llm_mean", None)
    fallback = build_frozen_text(tiny_backbone, ClassSet(("a", "b"), dataset="Mine"), "llm_mean", None, True)
    assert "template fallback for 2 classes" in fallback.source
