"""ImageDataset, broken images and existence checks (training and evaluation order: tests/engine/test_sampling.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from hicropl.data import Datum, ImageDataset, build_transform, check_images_exist
from hicropl.errors import DataError
from tests.data.synthetic import corrupt_image, truncate_image, write_image


def make_data(folder: Path, n: int, ext: str = ".jpg") -> list[Datum]:
    return [Datum(str(write_image(folder / f"img_{i}{ext}")), i % 3, f"c{i % 3}") for i in range(n)]


def test_items_are_image_label_index(tmp_path: Path) -> None:
    data = make_data(tmp_path, 4) + make_data(tmp_path / "png", 2, ".png")
    dataset = ImageDataset(data, build_transform(False, 8))
    assert len(dataset) == 6
    image, label, index = dataset[4]
    assert image.shape == (3, 8, 8) and label == data[4].label and index == 4
    raw, _, _ = ImageDataset(data)[0]
    assert raw.mode == "RGB"


@pytest.mark.parametrize("damage", [corrupt_image, truncate_image])
def test_broken_image_raises_naming_the_file(tmp_path: Path, damage) -> None:
    data = make_data(tmp_path, 3)
    damage(Path(data[1].impath))
    dataset = ImageDataset(data, build_transform(False, 8))
    dataset[0]
    with pytest.raises(
        DataError, match=r"cannot decode the image .*img_1.jpg.*--skip-corrupt-images \(train.skip_corrupt=true\)"
    ):
        dataset[1]


def test_missing_file_at_load_time(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="does not exist"):
        ImageDataset([Datum(str(tmp_path / "gone.jpg"), 0, "c")])[0]


def test_skip_corrupt_counts_up_front_and_replaces_with_next_valid(tmp_path: Path) -> None:
    data = make_data(tmp_path, 6)
    corrupt_image(Path(data[1].impath))
    truncate_image(Path(data[2].impath))
    truncate_image(Path(data[5].impath), keep=0.8)
    dataset = ImageDataset(data, build_transform(False, 8), skip_corrupt=True)
    assert dataset.skipped_count == 3
    assert dataset.skipped == [data[1].impath, data[2].impath, data[5].impath]
    assert [dataset[i][1:] for i in range(6)] == [(0, 0), (0, 3), (0, 3), (0, 3), (1, 4), (0, 0)]
    assert len(dataset) == 6
    clean = ImageDataset(make_data(tmp_path / "ok", 2), skip_corrupt=True)
    assert clean.skipped_count == 0 and clean.skipped == []


def test_skip_corrupt_with_nothing_valid(tmp_path: Path) -> None:
    data = make_data(tmp_path, 2)
    for d in data:
        corrupt_image(Path(d.impath))
    with pytest.raises(DataError, match="none of the 2 images could be decoded"):
        ImageDataset(data, skip_corrupt=True)


def test_check_images_exist_reports_count_and_first_paths(tmp_path: Path) -> None:
    data = make_data(tmp_path, 9)
    check_images_exist(data)
    for d in data[1:8]:
        Path(d.impath).unlink()
    with pytest.raises(DataError) as info:
        check_images_exist(data)
    message = str(info.value)
    assert message.startswith("7 of 9 images are missing")
    assert data[1].impath in message and data[5].impath in message and data[6].impath not in message
    assert "and 2 more" in message and "Fix:" in message
