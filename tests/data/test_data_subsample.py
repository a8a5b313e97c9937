"""Base/novel class subsampling (CoOp convention)."""

from __future__ import annotations

import pytest

from hicropl.data import DatasetSplits, Datum, build_dataset, sample_few_shot, subsample_classes
from hicropl.data.subsample import normalize_subset, subset_labels
from hicropl.errors import ConfigError


def toy(n_classes: int) -> DatasetSplits:
    names = [f"c{i}" for i in range(n_classes)]

    def data(tag: str) -> list[Datum]:
        return [Datum(f"/x/{tag}/{i}_{j}.jpg", i, names[i]) for i in range(n_classes) for j in range(2)]

    return DatasetSplits("Toy", names, data("train"), data("val"), data("test"), None)


@pytest.mark.parametrize(("n", "base"), [(1, 1), (2, 1), (5, 3), (10, 5), (37, 19), (47, 24)])
def test_base_is_first_ceil_half(n: int, base: int) -> None:
    assert list(subset_labels(n, "base")) == list(range(base))
    assert list(subset_labels(n, "new")) == list(range(base, n))


def test_base_and_new_relabel_from_zero_in_every_split() -> None:
    splits = toy(5)
    base, new = subsample_classes(splits, "base"), subsample_classes(splits, "novel")
    assert base.classnames == ["c0", "c1", "c2"] and new.classnames == ["c3", "c4"]
    for part in ("train", "val", "test"):
        assert {d.label for d in getattr(base, part)} == {0, 1, 2}
        assert {d.label for d in getattr(new, part)} == {0, 1}
        assert all(d.classname == new.classnames[d.label] for d in getattr(new, part))
        assert all(d.classname == base.classnames[d.label] for d in getattr(base, part))
        assert len(getattr(base, part)) + len(getattr(new, part)) == len(getattr(splits, part))
    assert subsample_classes(splits, "all") is splits


def test_subset_names() -> None:
    assert [normalize_subset(s) for s in ("all", "Base", "new", "novel", " NOVEL ")] == [
        "all", "base", "new", "new", "new"
    ]  # fmt: skip
    with pytest.raises(ConfigError, match="'half' is not one of"):
        subsample_classes(toy(2), "half")


def test_after_few_shot_on_miniature(mini) -> None:
    splits = sample_few_shot(build_dataset("Caltech101", mini.root), 2, seed=1)
    base = subsample_classes(splits, "base")
    assert base.classnames == ["face", "leopard"]
    assert len(base.train) == 4 and len(base.val) == 4
    new = subsample_classes(splits, "new")
    assert new.classnames == ["accordion", "airplane"] and {d.label for d in new.test} == {0, 1}


def test_imagenet_keeps_val_as_test(mini) -> None:
    base = subsample_classes(build_dataset("ImageNet", mini.root), "base")
    assert base.val_is_test and base.val is base.test
    assert base.classnames == ["tench", "goldfish", "great white shark"]


def test_test_only_dataset(mini) -> None:
    new = subsample_classes(build_dataset("ImageNetR", mini.root), "new")
    assert new.classnames == ["hammerhead shark"] and {d.label for d in new.test} == {0}
    assert new.train == [] and new.val == []
