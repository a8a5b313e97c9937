"""ImageDataset, broken images, existence checks and the official loader settings."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
import torch
from synthetic import corrupt_image, truncate_image, write_image

from hicropl.data import Datum, ImageDataset, build_loader, build_transform, check_images_exist
from hicropl.errors import DataError


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
    with pytest.raises(DataError, match=r"cannot decode the image .*img_1.jpg.*skip_corrupt=True"):
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


def test_train_loader_official_settings(tmp_path: Path) -> None:
    dataset = ImageDataset(make_data(tmp_path, 10), build_transform(True, 8))
    loader = build_loader(dataset, batch_size=4, train=True, num_workers=0, seed=1)
    assert loader.drop_last and isinstance(loader.sampler, torch.utils.data.RandomSampler)
    assert loader.pin_memory == torch.cuda.is_available()
    assert [len(b[1]) for b in loader] == [4, 4]
    small = build_loader(dataset, batch_size=32, train=True, num_workers=0, seed=1)
    assert not small.drop_last and [len(b[1]) for b in small] == [10]
    test = build_loader(dataset, batch_size=4, train=False, num_workers=0, seed=1)
    assert not test.drop_last and [b[2].tolist() for b in test] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]


def test_train_order_follows_seed(tmp_path: Path) -> None:
    dataset = ImageDataset(make_data(tmp_path, 12))
    dataset.transform = build_transform(False, 8)

    def order(seed: int) -> list[int]:
        return [i for batch in build_loader(dataset, 4, True, 0, seed) for i in batch[2].tolist()]

    assert order(3) == order(3) and order(3) != order(4)
    assert sorted(order(3)) == list(range(12))


class _RandomDraws(torch.utils.data.Dataset):
    """Returns what Python's and torch's RNGs give inside the worker."""

    def __len__(self) -> int:
        return 4

    def __getitem__(self, index: int):
        return torch.tensor([random.random(), torch.rand(()).item()]), index, index


def test_workers_are_persistent_and_seeded() -> None:
    def draws(seed: int) -> list[list[float]]:
        loader = build_loader(_RandomDraws(), batch_size=1, train=False, num_workers=2, seed=seed)
        assert loader.persistent_workers and loader.num_workers == 2
        return [batch[0][0].tolist() for batch in loader]

    first, again, other = draws(5), draws(5), draws(6)
    assert first == again and first != other
    assert first[0] != first[1]  # the two workers do not share a random stream
