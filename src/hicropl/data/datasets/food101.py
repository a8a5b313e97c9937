"""Food-101 (CoOp layout): ``food-101/images`` + ``split_zhou_Food101.json`` supplied by the user."""

from __future__ import annotations

from pathlib import Path

from hicropl.data.datasets._common import first_component, read_split_dataset
from hicropl.data.spec import DatasetSpec, SplitCounts
from hicropl.data.types import DatasetSplits

NAME = "Food101"


def read(dataset_dir: Path, check_files: bool = True) -> DatasetSplits:
    return read_split_dataset(
        NAME,
        dataset_dir,
        ["images"],
        check_files,
        description_file=SPEC.description_file,
        expected_name=lambda relpath, _label: first_component(relpath),
        shipped=False,
    )


SPEC = DatasetSpec(
    name=NAME,
    folder="food-101",
    reader=read,
    aliases=("food", "food-101", "food_101"),
    description_file="food101_prompt.json",
    template="a photo of {}, a type of food.",
    num_classes=101,
    expected=SplitCounts(train=50500, val=20200, test=30300),
    source=(
        "Download food-101.tar.gz from https://data.vision.ee.ethz.ch/cvl/datasets_extra/food-101/, extract it in the "
        "data root "
        "(gives food-101/), and download split_zhou_Food101.json from the link in CoOp's DATASETS.md into food-101/ "
        "(hicropl cannot ship it)"
    ),
    layout="food-101/\n  images/<class>/<id>.jpg\n  meta/\n  split_zhou_Food101.json (required)",
    required=("images", "split_zhou_Food101.json"),
)
