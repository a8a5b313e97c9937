"""ImageNet-1k (CoOp layout): ``imagenet/images/{train,val}/<wnid>/`` + ``classnames.txt`` (optional).

The validation images must be sorted into wnid folders like the training images (as in CoOp).
There is no separate validation split: ``val`` is the test list (official behaviour).
"""

from __future__ import annotations

from pathlib import Path

from hicropl.data.datasets._common import find_dir, finish
from hicropl.data.datasets._imagenet import classnames_for, read_wnid_folders
from hicropl.data.spec import DatasetSpec, SplitCounts
from hicropl.data.types import DatasetSplits

NAME = "ImageNet"


def read(dataset_dir: Path, check_files: bool = True) -> DatasetSplits:
    pairs, source = classnames_for(dataset_dir)
    image_root = find_dir(dataset_dir, ["images"], NAME, "image")
    train_dir = find_dir(image_root, ["train"], NAME, "training-image")
    val_dir = find_dir(image_root, ["val"], NAME, "validation-image")
    classnames, train = read_wnid_folders(NAME, train_dir, pairs, source, subset=False)
    _, test = read_wnid_folders(NAME, val_dir, pairs, source, subset=False)
    # Files come from directory listings, so they exist: no per-file check needed.
    return finish(
        NAME, classnames, train, test, test, description_file=SPEC.description_file, check_files=False, source=source
    )


SPEC = DatasetSpec(
    name=NAME,
    folder="imagenet",
    reader=read,
    aliases=("imagenet1k", "imagenet-1k", "ilsvrc2012", "in1k"),
    description_file=None,
    imagenet_family=True,
    num_classes=1000,
    expected=SplitCounts(train=1281167, val=None, test=50000),
    source=(
        "Download ILSVRC2012 from https://image-net.org, extract train and val into imagenet/images/ with the "
        "validation images sorted into wnid folders like train; classnames.txt is optional (shipped)"
    ),
    layout="imagenet/\n  images/\n    train/<wnid>/*.JPEG   (1000 folders)\n    val/<wnid>/*.JPEG     (1000 folders)\n"
    "  classnames.txt (optional)",
    required=("images/train", "images/val"),
)
