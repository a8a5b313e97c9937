"""Oxford Flowers-102 (CoOp layout): ``oxford_flowers/jpg`` + ``split_zhou_OxfordFlowers.json``.

The split carries the class names (from ``cat_to_name.json``, also shipped), so ``imagelabels.mat``
is not needed.
"""

from __future__ import annotations

from pathlib import Path

from hicropl.data import resources
from hicropl.data.datasets._common import read_split_dataset
from hicropl.data.spec import DatasetSpec, SplitCounts
from hicropl.data.types import DatasetSplits

NAME = "OxfordFlowers"


def read(dataset_dir: Path, check_files: bool = True) -> DatasetSplits:
    cat_to_name = resources.flowers_cat_to_name()
    return read_split_dataset(
        NAME,
        dataset_dir,
        ["jpg"],
        check_files,
        description_file=SPEC.description_file,
        expected_name=lambda _relpath, label: cat_to_name.get(label),
    )


SPEC = DatasetSpec(
    name=NAME,
    folder="oxford_flowers",
    reader=read,
    aliases=("oxford_flowers", "flowers", "flowers102", "flowers-102", "oxfordflowers102"),
    description_file="oxford_flowers_prompt.json",
    template="a photo of a {}, a type of flower.",
    num_classes=102,
    expected=SplitCounts(train=4093, val=1633, test=2463),
    source=(
        "Create oxford_flowers/ and extract https://www.robots.ox.ac.uk/~vgg/data/flowers/102/102flowers.tgz into it "
        "(gives jpg/); split_zhou_OxfordFlowers.json and cat_to_name.json ship with hicropl"
    ),
    layout=(
        "oxford_flowers/\n  jpg/image_XXXXX.jpg\n  imagelabels.mat (optional)\n  cat_to_name.json (optional)\n"
        "  split_zhou_OxfordFlowers.json (optional)"
    ),
    required=("jpg",),
)
