"""ImageNet-R (CoOp layout): test-only, ``imagenet-rendition/imagenet-r/<wnid>/``, its 200-class subset."""

from __future__ import annotations

from pathlib import Path

from hicropl.data.datasets._imagenet import read_test_only_wnid_dataset
from hicropl.data.spec import DatasetSpec, SplitCounts
from hicropl.data.types import DatasetSplits

NAME = "ImageNetR"


def read(dataset_dir: Path, check_files: bool = True) -> DatasetSplits:
    return read_test_only_wnid_dataset(
        NAME, dataset_dir, ["imagenet-r"], subset=True, description_file=SPEC.description_file
    )


SPEC = DatasetSpec(
    name=NAME,
    folder="imagenet-rendition",
    reader=read,
    aliases=("imagenet_r", "imagenet-r", "imagenet-rendition", "inr"),
    description_file=None,
    imagenet_family=True,
    num_classes=200,
    expected=SplitCounts(train=None, val=None, test=30000),
    source=(
        "Create imagenet-rendition/ and extract https://people.eecs.berkeley.edu/~hendrycks/imagenet-r.tar into it "
        "(see https://github.com/hendrycks/imagenet-r)"
    ),
    layout="imagenet-rendition/\n  imagenet-r/<wnid>/*.jpg   (200 folders)\n  classnames.txt (optional)",
    required=("imagenet-r",),
)
