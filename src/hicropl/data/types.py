"""The two value types every part of the library exchanges about data.

They are plain frozen dataclasses (no torch, no I/O) so that readers, samplers, caches and the
training engine can pass them around, compare them and hash them without surprises.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Datum:
    """One labelled image.

    ``impath`` is an absolute path so that a datum means the same file wherever it is used;
    ``domain`` exists for Dassl compatibility (always 0 for the 15 standard datasets).
    """

    impath: str
    label: int
    classname: str
    domain: int = 0


@dataclass(frozen=True)
class DatasetSplits:
    """A dataset as the protocols see it: class names in label order and three lists of images.

    ``description_file`` names the shipped LLM-description JSON for this dataset (see
    ``hicropl.data.resources.load_llm_descriptions``), or is None when none is shipped.
    Test-only datasets (ImageNet-V2/-Sketch/-A/-R) have empty ``train`` and ``val``. ImageNet has
    no separate validation split: ``val`` is the test list itself (official behaviour).
    """

    name: str
    classnames: list[str]
    train: list[Datum]
    val: list[Datum]
    test: list[Datum]
    description_file: str | None = None

    @property
    def num_classes(self) -> int:
        return len(self.classnames)

    @property
    def val_is_test(self) -> bool:
        """True when validation reuses the test images (ImageNet): few-shot sampling leaves it alone."""
        return bool(self.test) and (self.val is self.test or self.val == self.test)

    @property
    def test_only(self) -> bool:
        """True for evaluation-only datasets (no training images)."""
        return not self.train and not self.val

    def __repr__(self) -> str:
        return (
            f"DatasetSplits(name={self.name!r}, classes={len(self.classnames)}, train={len(self.train)}, "
            f"val={'test' if self.val_is_test else len(self.val)}, test={len(self.test)}, "
            f"description_file={self.description_file!r})"
        )
