"""SUN397 (CoOp layout): ``sun397/SUN397`` + ``split_zhou_SUN397.json`` supplied by the user."""

from __future__ import annotations

import posixpath
from pathlib import Path

from hicropl.data.classnames import sun397_classname
from hicropl.data.datasets._common import read_split_dataset
from hicropl.data.spec import DatasetSpec, SplitCounts
from hicropl.data.types import DatasetSplits

NAME = "SUN397"


def read(dataset_dir: Path, check_files: bool = True) -> DatasetSplits:
    return read_split_dataset(
        NAME,
        dataset_dir,
        ["SUN397"],
        check_files,
        description_file=SPEC.description_file,
        expected_name=lambda relpath, _label: sun397_classname(posixpath.dirname(relpath)),
        shipped=False,
    )


SPEC = DatasetSpec(
    name=NAME,
    folder="sun397",
    reader=read,
    aliases=("sun", "sun-397", "sun_397"),
    description_file="sun397_prompt.json",
    num_classes=397,
    expected=SplitCounts(train=15880, val=3970, test=19850),
    source=(
        "Create sun397/ and extract http://vision.princeton.edu/projects/2010/SUN/SUN397.tar.gz into it (gives "
        "SUN397/), and download split_zhou_SUN397.json from the link in CoOp's DATASETS.md into sun397/ "
        "(hicropl cannot ship it)"
    ),
    layout="sun397/\n  SUN397/<letter>/<class>[/<subclass>]/sun_<id>.jpg\n  split_zhou_SUN397.json (required)",
    required=("SUN397", "split_zhou_SUN397.json"),
)
