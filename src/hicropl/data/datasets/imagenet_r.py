"""ImageNet-R (CoOp layout): test-only, ``imagenet-rendition/imagenet-r/<wnid>/``, its 200-class subset."""

from __future__ import annotations

from pathlib import Path

from hicropl.data.datasets._common import find_dir, finish
from hicropl.data.datasets._imagenet import classnames_for, read_wnid_folders
from hicropl.data.spec import DatasetSpec, SplitCounts
from hicropl.data.types import DatasetSplits

NAME = "ImageNetR"


def read(dataset_dir: Path, check_files: bool = True) -> DatasetSplits:
    pairs, source = classnames_for(dataset_dir)
    image_dir = find_dir(dataset_dir, ["imagenet-r"], NAME, "image")
    classnames, test = read_wnid_folders(NAME, image_dir, pairs, source, subset=True)
    return finish(
        NAME, classnames, [], [], test, description_file=SPEC.description_file, check_files=False, source=source
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
