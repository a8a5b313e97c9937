"""Stanford Cars (CoOp layout): ``stanford_cars/cars_{train,test}`` + ``split_zhou_StanfordCars.json``.

CoOp's split paths are relative to the dataset folder itself (``cars_train/00001.jpg``).
"""

from __future__ import annotations

from pathlib import Path

from hicropl.data.datasets._common import read_split_dataset
from hicropl.data.spec import DatasetSpec, SplitCounts
from hicropl.data.types import DatasetSplits

NAME = "StanfordCars"


def read(dataset_dir: Path, check_files: bool = True) -> DatasetSplits:
    # The year-first names (e.g. "2012 Audi TTS Coupe") come from devkit/cars_meta.mat, not from
    # the paths, so there is no per-path name rule to validate against.
    return read_split_dataset(NAME, dataset_dir, ["."], check_files, description_file=SPEC.description_file)


SPEC = DatasetSpec(
    name=NAME,
    folder="stanford_cars",
    reader=read,
    aliases=("stanford_cars", "cars", "stanfordcars196"),
    description_file="stanford_cars_prompt.json",
    num_classes=196,
    expected=SplitCounts(train=6509, val=1635, test=8041),
    source=(
        "Create stanford_cars/ and extract cars_train.tgz, cars_test.tgz and car_devkit.tgz into it (the original "
        "ai.stanford.edu links are offline; use a mirror that keeps the cars_train/ and cars_test/ file names); "
        "split_zhou_StanfordCars.json ships with hicropl"
    ),
    layout=(
        "stanford_cars/\n  cars_train/XXXXX.jpg\n  cars_test/XXXXX.jpg\n  devkit/ (optional)\n"
        "  split_zhou_StanfordCars.json (optional)"
    ),
    required=("cars_train", "cars_test"),
)
