"""ImageNet-A (CoOp layout): test-only, ``imagenet-adversarial/imagenet-a/<wnid>/``, its 200-class subset."""

from __future__ import annotations

from pathlib import Path

from hicropl.data.datasets._common import find_dir, finish
from hicropl.data.datasets._imagenet import classnames_for, read_wnid_folders
from hicropl.data.spec import DatasetSpec, SplitCounts
from hicropl.data.types import DatasetSplits

NAME = "ImageNetA"


def read(dataset_dir: Path, check_files: bool = True) -> DatasetSplits:
    pairs, source = classnames_for(dataset_dir)
    image_dir = find_dir(dataset_dir, ["imagenet-a"], NAME, "image")
    classnames, test = read_wnid_folders(NAME, image_dir, pairs, source, subset=True)
    return finish(
        NAME, classnames, [], [], test, description_file=SPEC.description_file, check_files=False, source=source
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
