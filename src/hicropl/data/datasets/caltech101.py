"""Caltech101 (CoOp layout): ``caltech-101/101_ObjectCategories`` + ``split_zhou_Caltech101.json``."""

from __future__ import annotations

from pathlib import Path

from hicropl.data.classnames import caltech101_classname
from hicropl.data.datasets._common import first_component, read_split_dataset
from hicropl.data.spec import DatasetSpec, SplitCounts
from hicropl.data.types import DatasetSplits

NAME = "Caltech101"


def read(dataset_dir: Path, check_files: bool = True) -> DatasetSplits:
    return read_split_dataset(
        NAME,
        dataset_dir,
        ["101_ObjectCategories"],
        check_files,
        description_file=SPEC.description_file,
        expected_name=lambda relpath, _label: caltech101_classname(first_component(relpath)),
    )


SPEC = DatasetSpec(
    name=NAME,
    folder="caltech-101",
    reader=read,
    aliases=("caltech", "caltech-101", "caltech_101"),
    description_file="caltech_prompt.json",
    num_classes=100,
    expected=SplitCounts(train=4128, val=1649, test=2465),
    source=(
        "Create caltech-101/ and extract 101_ObjectCategories.tar.gz (https://data.caltech.edu/records/mzrjq-6wc02) "
        "into it; split_zhou_Caltech101.json ships with hicropl"
    ),
    layout="caltech-101/\n  101_ObjectCategories/<class>/image_XXXX.jpg\n  split_zhou_Caltech101.json (optional)",
    required=("101_ObjectCategories",),
)
