"""FGVC-Aircraft 2013b (CoOp layout): the tarball's ``data/`` folder renamed to ``fgvc_aircraft``.

No split file: CoOp reads the official ``images_variant_{train,val,test}.txt`` lists, with the
class (variant) names and label order of ``variants.txt``. A folder that still has the tarball's
``data/`` level (``fgvc_aircraft/data/images``) is accepted too.
"""

from __future__ import annotations

import os
from pathlib import Path

from hicropl.data.datasets._common import find_dir, finish, require_file
from hicropl.data.spec import DatasetSpec, SplitCounts
from hicropl.data.types import DatasetSplits, Datum
from hicropl.errors import DataError

NAME = "FGVCAircraft"


def _read_lines(path: Path) -> list[str]:
    try:
        return [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"{NAME}: cannot read {path}: {exc}") from exc


def read(dataset_dir: Path, check_files: bool = True) -> DatasetSplits:
    image_dir = find_dir(dataset_dir, ["images", "data/images"], NAME, "image")
    base = image_dir.parent
    classnames = _read_lines(require_file(base / "variants.txt", NAME, "class list"))
    label_of = {name: label for label, name in enumerate(classnames)}
    if len(label_of) != len(classnames):
        raise DataError(f"{NAME}: {base / 'variants.txt'} lists a variant twice")
    parts: dict[str, list[Datum]] = {}
    for split in ("train", "val", "test"):
        list_file = require_file(base / f"images_variant_{split}.txt", NAME, f"{split} list")
        items: list[Datum] = []
        for number, line in enumerate(_read_lines(list_file), start=1):
            image_id, _, variant = line.partition(" ")
            if variant not in label_of:
                raise DataError(
                    f"{NAME}: {list_file}, line {number}: the variant {variant!r} is not in {base / 'variants.txt'}"
                )
            impath = os.path.join(str(image_dir), image_id + ".jpg")
            items.append(Datum(impath=impath, label=label_of[variant], classname=variant))
        parts[split] = items
    return finish(
        NAME,
        classnames,
        parts["train"],
        parts["val"],
        parts["test"],
        description_file=SPEC.description_file,
        check_files=check_files,
        source=f"images_variant_*.txt in {base}",
    )


SPEC = DatasetSpec(
    name=NAME,
    folder="fgvc_aircraft",
    reader=read,
    aliases=("fgvc", "fgvc_aircraft", "aircraft", "fgvc-aircraft"),
    description_file="fgvc_prompt.json",
    template="a photo of a {}, a type of aircraft.",
    num_classes=100,
    expected=SplitCounts(train=3334, val=3333, test=3333),
    source=(
        "Extract https://www.robots.ox.ac.uk/~vgg/data/fgvc-aircraft/archives/fgvc-aircraft-2013b.tar.gz, keep only "
        "its data/ folder and rename it to fgvc_aircraft/ in the data root"
    ),
    layout=(
        "fgvc_aircraft/\n  images/<id>.jpg\n  variants.txt\n  images_variant_train.txt\n"
        "  images_variant_val.txt\n  images_variant_test.txt"
    ),
    required=(("images", "data/images"), ("variants.txt", "data/variants.txt")),
)
