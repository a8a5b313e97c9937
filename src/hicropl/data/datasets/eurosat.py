"""EuroSAT RGB (CoOp layout): ``eurosat/2750`` + ``split_zhou_EuroSAT.json``; CoOp's long class names."""

from __future__ import annotations

from pathlib import Path

from hicropl.data.classnames import eurosat_classname
from hicropl.data.datasets._common import first_component, read_split_dataset
from hicropl.data.spec import DatasetSpec, SplitCounts
from hicropl.data.types import DatasetSplits

NAME = "EuroSAT"


def read(dataset_dir: Path, check_files: bool = True) -> DatasetSplits:
    return read_split_dataset(
        NAME,
        dataset_dir,
        ["2750"],
        check_files,
        description_file=SPEC.description_file,
        expected_name=lambda relpath, _label: eurosat_classname(first_component(relpath)),
    )


SPEC = DatasetSpec(
    name=NAME,
    folder="eurosat",
    reader=read,
    aliases=("eurosat", "euro_sat"),
    description_file="eurosat_prompt.json",
    template="a centered satellite photo of {}.",
    num_classes=10,
    expected=SplitCounts(train=13500, val=5400, test=8100),
    source=(
        "Create eurosat/ and extract the RGB EuroSAT.zip (http://madm.dfki.de/files/sentinel/EuroSAT.zip, gives "
        "2750/) into it; split_zhou_EuroSAT.json ships with hicropl"
    ),
    layout="eurosat/\n  2750/<Class>/<Class>_<n>.jpg\n  split_zhou_EuroSAT.json (optional)",
    required=("2750",),
)
