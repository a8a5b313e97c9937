"""UCF101 middle frames (CoOp layout): ``ucf101/UCF-101-midframes`` + ``split_zhou_UCF101.json``.

The folders already carry CoOp's names (CamelCase split on capitals, joined by ``_``); the split
is validated against that rule.
"""

from __future__ import annotations

from pathlib import Path

from hicropl.data.classnames import ucf101_classname
from hicropl.data.datasets._common import first_component, read_split_dataset
from hicropl.data.spec import DatasetSpec, SplitCounts
from hicropl.data.types import DatasetSplits

NAME = "UCF101"


def _expected(relpath: str, _label: int) -> str:
    folder = first_component(relpath)
    return ucf101_classname(folder.replace("_", ""))


def read(dataset_dir: Path, check_files: bool = True) -> DatasetSplits:
    return read_split_dataset(
        NAME,
        dataset_dir,
        ["UCF-101-midframes"],
        check_files,
        description_file=SPEC.description_file,
        expected_name=_expected,
    )


SPEC = DatasetSpec(
    name=NAME,
    folder="ucf101",
    reader=read,
    aliases=("ucf", "ucf-101", "ucf_101"),
    description_file="ucf101_prompt.json",
    template="a photo of a person doing {}.",
    num_classes=101,
    expected=SplitCounts(train=7639, val=1898, test=3783),
    source=(
        "Create ucf101/ and extract CoOp's UCF-101-midframes.zip (linked in CoOp's DATASETS.md) into it; "
        "split_zhou_UCF101.json ships with hicropl"
    ),
    layout="ucf101/\n  UCF-101-midframes/<Class_Name>/v_<Action>_gXX_cXX.jpg\n  split_zhou_UCF101.json (optional)",
    required=("UCF-101-midframes",),
)
