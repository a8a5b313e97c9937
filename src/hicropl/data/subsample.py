"""CoOp's base/novel class split: the first half of the labels is "base", the rest "new".

Applied after few-shot sampling, to train, val and test alike, with labels renumbered from 0 so
that a model trained on base classes sees a contiguous label space.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace

from hicropl.data.types import DatasetSplits, Datum
from hicropl.errors import ConfigError

_SUBSETS = {"all": "all", "base": "base", "new": "new", "novel": "new"}


def normalize_subset(subset: str) -> str:
    """``all``, ``base`` or ``new`` (``novel`` is accepted for ``new``)."""
    key = subset.lower().strip() if isinstance(subset, str) else subset
    if key not in _SUBSETS:
        raise ConfigError(f"class subset {subset!r} is not one of 'all', 'base', 'new' (or 'novel')")
    return _SUBSETS[key]


def subset_labels(num_classes: int, subset: str) -> range:
    """The original labels kept by ``subset``: base = the first ceil(n/2), new = the rest."""
    middle = math.ceil(num_classes / 2)
    kind = normalize_subset(subset)
    if kind == "all":
        return range(num_classes)
    return range(middle) if kind == "base" else range(middle, num_classes)


def _relabel(data: Sequence[Datum], kept: range) -> list[Datum]:
    return [replace(d, label=d.label - kept.start) for d in data if d.label in kept]


def subsample_classes(splits: DatasetSplits, subset: str) -> DatasetSplits:
    """Keep the ``subset`` classes of every split and renumber their labels from 0.

    The label set is the dataset's (``len(classnames)``), which equals CoOp's sorted training labels
    whenever every class has a training image, and also works for test-only datasets.
    """
    kept = subset_labels(splits.num_classes, subset)
    if kept == range(splits.num_classes):
        return splits
    test = _relabel(splits.test, kept)
    val = test if splits.val_is_test else _relabel(splits.val, kept)
    return replace(
        splits,
        classnames=splits.classnames[kept.start : kept.stop],
        train=_relabel(splits.train, kept),
        val=val,
        test=test,
    )
