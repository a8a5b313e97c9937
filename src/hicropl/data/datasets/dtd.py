"""Describable Textures (CoOp layout): ``dtd/images`` + ``split_zhou_DescribableTextures.json``.

Extracting the tarball inside a folder of the same name gives ``dtd/dtd/images``; that works too.
"""

from __future__ import annotations

from pathlib import Path

from hicropl.data.datasets._common import first_component, read_split_dataset
from hicropl.data.spec import DatasetSpec, SplitCounts
from hicropl.data.types import DatasetSplits

NAME = "DescribableTextures"


def read(dataset_dir: Path, check_files: bool = True) -> DatasetSplits:
    return read_split_dataset(
        NAME,
        dataset_dir,
        ["images", "dtd/images"],
        check_files,
        description_file=SPEC.description_file,
        expected_name=lambda relpath, _label: first_component(relpath),
    )


SPEC = DatasetSpec(
    name=NAME,
    folder="dtd",
    reader=read,
    aliases=("dtd", "textures", "describable_textures"),
    description_file="dtd_prompt.json",
    template="{} texture.",
    num_classes=47,
    expected=SplitCounts(train=2820, val=1128, test=1692),
    source=(
        "Extract https://www.robots.ox.ac.uk/~vgg/data/dtd/download/dtd-r1.0.1.tar.gz in the data root (gives dtd/); "
        "split_zhou_DescribableTextures.json ships with hicropl"
    ),
    layout="dtd/\n  images/<class>/<class>_XXXX.jpg\n  split_zhou_DescribableTextures.json (optional)",
    required=(("images", "dtd/images"),),
)
