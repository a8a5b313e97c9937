"""The frozen image-feature cache: a cached evaluation equals an uncached one, and every key part
invalidates the entry."""

from __future__ import annotations

import pytest
import torch

from hicropl.clip.image_cache import FrozenImageCache, cache_key
from hicropl.methods import ClassSet, build_method
from tests.methods.cases import CLASSNAMES, DESCRIPTIONS

IMAGES = torch.randn(6, 3, 32, 32, generator=torch.Generator().manual_seed(0))
PATHS = [f"/data/img_{i}.jpg" for i in range(6)]


def _loader(batch: int = 4):
    return [
        (IMAGES[i : i + batch], torch.zeros(len(IMAGES[i : i + batch])), torch.arange(i, min(i + batch, 6)))
        for i in range(0, 6, batch)
    ]


def _features(cache, backbone, **overrides):
    key = {"dataset": "EuroSAT", "split": "test", "image_paths": PATHS, "transform": "resize224-crop", **overrides}
    return cache.features(backbone, loader=_loader(), **key)


def test_cached_features_equal_fresh_ones(tiny_backbone, tmp_path):
    cache = FrozenImageCache(tmp_path)
    first = _features(cache, tiny_backbone)
    second = _features(cache, tiny_backbone)
    assert (cache.misses, cache.hits) == (1, 1)
    assert torch.equal(first, second)
    torch.testing.assert_close(first, tiny_backbone.encode_image(IMAGES, normalize=True), atol=1e-6, rtol=0)


@pytest.mark.parametrize(
    "change",
    [{"dataset": "DTD"}, {"split": "val"}, {"image_paths": [*PATHS[:-1], "/data/other.jpg"]}, {"transform": "x"}],
)
def test_every_key_part_invalidates(tiny_backbone, tmp_path, change):
    cache = FrozenImageCache(tmp_path)
    _features(cache, tiny_backbone)
    _features(cache, tiny_backbone, **change)
    assert cache.misses == 2


def test_backbone_checksum_is_part_of_the_key():
    assert cache_key("a", "d", "s", PATHS, "t") != cache_key("b", "d", "s", PATHS, "t")
    assert cache_key("a", "d", "s", PATHS, "t") != cache_key("a", "d", "s", list(reversed(PATHS)), "t")


def test_hicropl_with_cached_frozen_features_equals_uncached(tiny_backbone, tmp_path):
    torch.manual_seed(0)
    method = build_method(
        "hicropl",
        tiny_backbone,
        ClassSet(CLASSNAMES, descriptions=DESCRIPTIONS),
        {"n_ctx": 2, "depth": 4, "boundary": 2},
    )
    frozen = _features(FrozenImageCache(tmp_path), tiny_backbone)
    with method.evaluating():
        plain = method(IMAGES).logits
        cached = method(IMAGES, frozen_image=frozen).logits
    torch.testing.assert_close(cached, plain, atol=1e-5, rtol=0)


def test_only_deterministic_listed_datasets_are_cached(tiny_backbone, tmp_path):
    from types import SimpleNamespace

    from hicropl.data.loader import cacheable_images
    from hicropl.data.transforms import build_transform

    data = [SimpleNamespace(impath=path, label=0) for path in PATHS]
    cache = FrozenImageCache(tmp_path)

    def features(transform):
        images = cacheable_images(SimpleNamespace(data=data, transform=transform))
        if images is None:
            return None
        return cache.features(
            tiny_backbone,
            dataset="EuroSAT",
            split="test",
            image_paths=images.paths,
            transform=images.transform,
            loader=_loader(),
        )

    # Augmented images differ on every pass: caching their features would freeze one draw.
    assert features(build_transform(True, 32)) is None
    assert features(lambda image: image) is None  # a transform that cannot be fingerprinted
    assert cache.misses == 0
    test_features = features(build_transform(False, 32))
    assert test_features is not None and cache.misses == 1
    torch.testing.assert_close(test_features, tiny_backbone.encode_image(IMAGES, normalize=True), atol=1e-6, rtol=0)
