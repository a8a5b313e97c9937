"""What the registry knows about one dataset: where it lives, how to read it, what to expect.

Kept apart from the registry so that dataset modules can build their spec without importing the
registry (which imports them lazily).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from hicropl.data.types import DatasetSplits

# reader(dataset_dir, check_files) -> DatasetSplits; check_files=False skips the per-image existence
# check (used by ``check_data_root`` to count missing images instead of failing on the first).
Reader = Callable[[Path, bool], DatasetSplits]


@dataclass(frozen=True)
class SplitCounts:
    """Image counts per split; ``val=None`` means validation is the test set, ``train=None`` test-only."""

    train: int | None
    val: int | None
    test: int


# CLIP's generic prompt: the hand-crafted prompt of a dataset that has no template of its own.
DEFAULT_TEMPLATE = "a photo of a {}."


@dataclass(frozen=True)
class DatasetSpec:
    """A registered dataset.

    ``template`` is CoOp's hand-crafted prompt for the dataset (the CLIP row of the paper's tables
    and KgCoOp's anchor). ``description_file`` names its LLM-description file (shipped, or a path).
    ``imagenet_family`` marks datasets whose classes are ImageNet's (all or a subset): no public
    description files exist for them, so frozen text comes from the authors' reference embeddings
    or CLIP's template ensemble. ``required`` lists paths relative to the dataset folder that must
    exist; an entry that is a tuple lists alternatives (any one suffices), e.g. the two ways people
    extract DTD.
    """

    name: str
    folder: str
    reader: Reader
    aliases: tuple[str, ...] = ()
    template: str = DEFAULT_TEMPLATE
    description_file: str | None = None
    imagenet_family: bool = False
    num_classes: int | None = None
    expected: SplitCounts | None = None
    source: str = ""
    layout: str = ""
    required: tuple[str | tuple[str, ...], ...] = field(default=())

    def dataset_dir(self, root: str | Path) -> Path:
        return Path(root).expanduser().absolute() / self.folder

    def first_missing(self, root: str | Path) -> Path | None:
        """The first required path that is absent (the dataset folder itself first), or None."""
        base = self.dataset_dir(root)
        if not base.is_dir():
            return base
        for entry in self.required:
            options = (entry,) if isinstance(entry, str) else entry
            if not any((base / option).exists() for option in options):
                return base / options[0]
        return None
