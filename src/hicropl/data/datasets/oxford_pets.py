"""Oxford-IIIT Pets (CoOp layout): ``oxford_pets/images`` + ``annotations`` + ``split_zhou_OxfordPets.json``."""

from __future__ import annotations

from pathlib import Path

from hicropl.data.classnames import oxford_pets_classname
from hicropl.data.datasets._common import read_split_dataset
from hicropl.data.spec import DatasetSpec, SplitCounts
from hicropl.data.types import DatasetSplits

NAME = "OxfordPets"


def read(dataset_dir: Path, check_files: bool = True) -> DatasetSplits:
    return read_split_dataset(
        NAME,
        dataset_dir,
        ["images"],
        check_files,
        description_file=SPEC.description_file,
        expected_name=lambda relpath, _label: oxford_pets_classname(relpath),
    )


SPEC = DatasetSpec(
    name=NAME,
    folder="oxford_pets",
    reader=read,
    aliases=("oxford_pets", "pets", "oxfordiiitpet", "oxford-iiit-pet"),
    description_file="oxford_pets_prompt.json",
    template="a photo of a {}, a type of pet.",
    num_classes=37,
    expected=SplitCounts(train=2944, val=736, test=3669),
    source=(
        "Create oxford_pets/ and extract https://www.robots.ox.ac.uk/~vgg/data/pets/data/images.tar.gz and "
        "annotations.tar.gz (same folder) into it; split_zhou_OxfordPets.json ships with hicropl"
    ),
    layout="oxford_pets/\n  images/<Breed>_<n>.jpg\n  annotations/\n  split_zhou_OxfordPets.json (optional)",
    required=("images",),
)
