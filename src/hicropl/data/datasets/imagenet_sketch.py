"""ImageNet-Sketch (CoOp layout): test-only, ``imagenet-sketch/images/<wnid>/`` (the ``sketch/`` folder renamed)."""

from __future__ import annotations

from pathlib import Path

from hicropl.data.datasets._imagenet import read_test_only_wnid_dataset
from hicropl.data.spec import DatasetSpec, SplitCounts
from hicropl.data.types import DatasetSplits

NAME = "ImageNetSketch"


def read(dataset_dir: Path, check_files: bool = True) -> DatasetSplits:
    return read_test_only_wnid_dataset(
        NAME, dataset_dir, ["images", "sketch"], subset=False, description_file=SPEC.description_file
    )


SPEC = DatasetSpec(
    name=NAME,
    folder="imagenet-sketch",
    reader=read,
    aliases=("imagenet_sketch", "imagenet-sketch", "sketch", "insketch"),
    description_file=None,
    imagenet_family=True,
    num_classes=1000,
    expected=SplitCounts(train=None, val=None, test=50889),
    source=(
        "Download ImageNet-Sketch (https://github.com/HaohanWang/ImageNet-Sketch), extract it to imagenet-sketch/ "
        "and rename its sketch/ folder to images/"
    ),
    layout="imagenet-sketch/\n  images/<wnid>/*.JPEG   (1000 folders)\n  classnames.txt (optional)",
    required=(("images", "sketch"),),
)
