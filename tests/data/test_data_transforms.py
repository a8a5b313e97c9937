"""The official train/test pipelines and their fingerprints."""

from __future__ import annotations

import pytest
import torch
from PIL import Image
from torchvision.transforms import v2

from hicropl.data import CLIP_MEAN, CLIP_STD, build_transform, transform_fingerprint


def test_test_pipeline_resizes_shorter_side_then_centre_crops() -> None:
    image = Image.new("RGB", (40, 20), (255, 0, 0))
    image.paste((0, 0, 255), (0, 0, 10, 20))  # a blue band on the left, cut off by the centre crop
    out = build_transform(False, 16)(image)
    assert out.shape == (3, 16, 16) and out.dtype == torch.float32
    red = [(1.0 - CLIP_MEAN[0]) / CLIP_STD[0], -CLIP_MEAN[1] / CLIP_STD[1], -CLIP_MEAN[2] / CLIP_STD[2]]
    torch.testing.assert_close(out[:, 8, 8], torch.tensor(red), atol=1e-5, rtol=0)


def test_train_pipeline_is_random_and_seedable() -> None:
    image = Image.new("RGB", (32, 24))
    image.putdata([(x * 8 % 256, y * 10 % 256, (x * y) % 256) for y in range(24) for x in range(32)])
    transform = build_transform(True, 16)
    torch.manual_seed(0)
    a = transform(image)
    torch.manual_seed(0)
    b = transform(image)
    c = transform(image)
    assert a.shape == (3, 16, 16)
    torch.testing.assert_close(a, b)
    assert not torch.equal(a, c)


def test_pipeline_steps_match_the_official_recipe() -> None:
    train = build_transform(True, 224).transforms
    assert isinstance(train[0], v2.RandomResizedCrop)
    assert train[0].scale == (0.08, 1.0) and train[0].interpolation == v2.InterpolationMode.BICUBIC
    assert isinstance(train[1], v2.RandomHorizontalFlip) and train[1].p == 0.5
    assert isinstance(train[-1], v2.Normalize) and tuple(train[-1].mean) == CLIP_MEAN
    assert tuple(train[-1].std) == CLIP_STD
    test = build_transform(False, 224).transforms
    assert isinstance(test[0], v2.Resize) and test[0].size == [224] and isinstance(test[1], v2.CenterCrop)


def test_custom_normalisation() -> None:
    out = build_transform(False, 8, mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5))(Image.new("RGB", (8, 8), "white"))
    torch.testing.assert_close(out, torch.ones(3, 8, 8))


def test_fingerprint_is_stable_and_discriminating() -> None:
    a = transform_fingerprint(build_transform(True, 224))
    assert a == transform_fingerprint(build_transform(True, 224)) and len(a) == 64
    others = {
        transform_fingerprint(build_transform(False, 224)),
        transform_fingerprint(build_transform(True, 336)),
        transform_fingerprint(build_transform(True, 224, mean=(0.5, 0.5, 0.5))),
    }
    assert a not in others and len(others) == 3


class _Opaque:
    def __call__(self, x):
        return x


def test_fingerprint_refuses_unreproducible_reprs() -> None:
    with pytest.raises(ValueError, match="does not identify it"):
        transform_fingerprint(v2.Compose([v2.Lambda(lambda x: x)]))
    with pytest.raises(ValueError, match="does not identify it"):
        transform_fingerprint(v2.Compose([_Opaque()]))


def test_bad_image_size() -> None:
    with pytest.raises(ValueError, match="positive integer"):
        build_transform(True, 0)
