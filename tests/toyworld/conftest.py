from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from hicropl.data.toyworld.datasets import TOYWORLD_GLYPHS, TOYWORLD_SHAPES, ToyDataset


def mini(dataset: ToyDataset, per_class: tuple[int, int, int] = (2, 1, 2)) -> ToyDataset:
    """A small copy of a ToyWorld dataset (same classes and style, fewer images, its own names)."""
    return dataclasses.replace(
        dataset,
        name=f"{dataset.name}Mini",
        folder=f"{dataset.folder}_mini",
        aliases=(),
        per_class=per_class,
    )


@pytest.fixture(scope="session")
def mini_shapes() -> ToyDataset:
    return mini(TOYWORLD_SHAPES)


@pytest.fixture(scope="session")
def mini_glyphs() -> ToyDataset:
    return mini(TOYWORLD_GLYPHS)


@pytest.fixture(scope="session")
def mini_root(tmp_path_factory: pytest.TempPathFactory, mini_shapes: ToyDataset, mini_glyphs: ToyDataset) -> Path:
    from hicropl.data.toyworld.datasets import prepare_dataset

    root = tmp_path_factory.mktemp("toyworld_data")
    prepare_dataset(mini_shapes, root)
    prepare_dataset(mini_glyphs, root)
    return root
