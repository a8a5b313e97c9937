"""ImageNet-A (CoOp layout): test-only, ``imagenet-adversarial/imagenet-a/<wnid>/``, its 200-class subset."""

from __future__ import annotations

from pathlib import Path

from hicropl.data.datasets._imagenet import read_test_only_wnid_dataset
from hicropl.data.spec import DatasetSpec, SplitCounts
from hicropl.data.types import DatasetSplits

NAME = "ImageNetA"


def read(dataset_dir: Path, check_files: bool = True) -> DatasetSplits:
    return read_test_only_wnid_dataset(
        NAME, dataset_dir, ["imagenet-a"], subset=True, description_file=SPEC.description_file
    )


SPEC = DatasetSpec(
    name=NAME,
    folder="imagenet-adversarial",
    reader=read,
    aliases=("imagenet_a", "imagenet-a", "imagenet-adversarial", "ina"),
    description_file=None,
    imagenet_family=True,
    num_classes=200,
    expected=SplitCounts(train=None, val=None, test=7500),
    source=(
        "Create imagenet-adversarial/ and extract https://people.eecs.berkeley.edu/~hendrycks/imagenet-a.tar into it "
        "(see https://github.com/hendrycks/natural-adv-examples)"
    ),
    layout="imagenet-adversarial/\n  imagenet-a/<wnid>/*.jpg   (200 folders)\n  classnames.txt (optional)",
    required=("imagenet-a",),
)
