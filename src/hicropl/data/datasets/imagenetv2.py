"""ImageNet-V2 matched-frequency (CoOp layout): test-only, folders ``0``..``999`` named by label."""

from __future__ import annotations

from pathlib import Path

from hicropl.data.datasets._common import find_dir, finish, list_class_folders
from hicropl.data.datasets._imagenet import check_folders, classnames_for, read_class_folders
from hicropl.data.spec import DatasetSpec, SplitCounts
from hicropl.data.types import DatasetSplits

NAME = "ImageNetV2"


def read(dataset_dir: Path, check_files: bool = True) -> DatasetSplits:
    pairs, source = classnames_for(dataset_dir)
    image_dir = find_dir(dataset_dir, ["imagenetv2-matched-frequency-format-val"], NAME, "image")
    folders = [str(label) for label in range(len(pairs))]
    check_folders(NAME, image_dir, list_class_folders(image_dir), folders, source)
    classnames = [name for _, name in pairs]
    test = read_class_folders(NAME, image_dir, folders, classnames)
    return finish(
        NAME, classnames, [], [], test, description_file=SPEC.description_file, check_files=False, source=source
    )


SPEC = DatasetSpec(
    name=NAME,
    folder="imagenetv2",
    reader=read,
    aliases=("imagenet_v2", "imagenet-v2", "inv2"),
    description_file=None,
    imagenet_family=True,
    num_classes=1000,
    expected=SplitCounts(train=None, val=None, test=10000),
    source=(
        "Create imagenetv2/ and extract imagenetv2-matched-frequency.tar.gz (linked from "
        "https://github.com/modestyachts/ImageNetV2) into it"
    ),
    layout="imagenetv2/\n  imagenetv2-matched-frequency-format-val/<label 0..999>/*.jpeg\n  classnames.txt (optional)",
    required=("imagenetv2-matched-frequency-format-val",),
)
