"""A second augmented view of each training image (Dassl's K_TRANSFORMS 2), served by the data pipeline."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from torchvision.transforms import v2

from hicropl.data.loader import ImageDataset
from hicropl.data.transforms import build_transform
from hicropl.data.types import Datum
from hicropl.engine.sampling import SeededDataset


@pytest.fixture()
def one_image(tmp_path) -> list[Datum]:
    rng = np.random.default_rng(0)
    path = tmp_path / "image.png"
    Image.fromarray(rng.integers(0, 255, size=(48, 40, 3)).astype(np.uint8)).save(path)
    return [Datum(impath=str(path), label=2, classname="c")]


def test_randaugment_pipeline_is_dassls_recipe():
    transform = build_transform(True, 32, augmentation="randaugment")
    steps = transform.transforms
    assert isinstance(steps[0], v2.Resize) and steps[0].size == [32, 32]  # both sides, no crop
    assert isinstance(steps[1], v2.RandAugment)
    assert (steps[1].num_ops, steps[1].magnitude, steps[1].num_magnitude_bins) == (2, 10, 31)
    assert isinstance(steps[-1], v2.Normalize)
    with pytest.raises(ValueError, match="augmentation"):
        build_transform(True, 32, augmentation="autoaugment")  # type: ignore[arg-type]


def test_without_a_second_transform_items_carry_one_view(one_image):
    item = ImageDataset(one_image, build_transform(True, 32, augmentation="randaugment"))[0]
    assert len(item) == 3  # (view, label, index): nothing extra for methods that do not ask


def test_second_view_is_another_seeded_augmentation_of_the_same_image(one_image):
    train = build_transform(True, 32, augmentation="randaugment")
    seeded = SeededDataset(ImageDataset(one_image, train, second_transform=train))
    view1, label, index, view2 = seeded[(0, 123)]
    assert (label, index) == (2, 0) and view1.shape == view2.shape == (3, 32, 32)
    assert not torch.equal(view1, view2)  # an independent augmentation draw, not a copy
    again = seeded[(0, 123)]
    assert torch.equal(again[0], view1) and torch.equal(again[3], view2)  # fixed by the sample's seed
    other = seeded[(0, 124)]
    assert not torch.equal(other[3], view2)  # another seed, another draw
    # The same decoded image goes through both: with a deterministic transform the views are equal.
    test = build_transform(False, 32)
    plain = ImageDataset(one_image, test, second_transform=test)[0]
    assert torch.equal(plain[0], plain[3])
