"""Shared reading for the ImageNet family: class-name files and wnid folder scans.

Class names come from ``classnames.txt`` in the dataset folder when present (CoOp asks users to
copy it there), otherwise from the shipped ``imagenet_classnames.txt`` (the same CoOp file), so
copying it is optional.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from hicropl.data import resources
from hicropl.data.datasets._common import find_dir, finish, list_class_folders, list_images
from hicropl.data.files import read_text_lines
from hicropl.data.types import DatasetSplits, Datum
from hicropl.errors import DataError


def classnames_for(dataset_dir: Path) -> tuple[list[tuple[str, str]], str]:
    """``[(wnid, name), ...]`` in file order and where it came from."""
    local = dataset_dir / "classnames.txt"
    if local.is_file():
        lines = read_text_lines(local, "replace it with CoOp's classnames.txt or delete it", encoding="utf-8")
        return resources.parse_imagenet_classnames(lines, str(local)), str(local)
    return resources.imagenet_classnames(), "imagenet_classnames.txt (shipped with hicropl)"


def _show(names: Sequence[str]) -> str:
    return ", ".join(names[:5]) + (f" ... ({len(names)} in all)" if len(names) > 5 else "")


def read_class_folders(
    name: str, image_dir: Path, folders: Sequence[str], classnames: Sequence[str], first_label: int = 0
) -> list[Datum]:
    """Images of ``folders[i]`` get label ``first_label + i`` and ``classnames[i]``; empty folders are errors."""
    data: list[Datum] = []
    for offset, (folder, classname) in enumerate(zip(folders, classnames, strict=True)):
        paths = list_images(image_dir / folder)
        if not paths:
            raise DataError(f"{name}: the class folder {image_dir / folder} has no images; re-extract the dataset")
        data.extend(Datum(impath=p, label=first_label + offset, classname=classname) for p in paths)
    return data


def check_folders(name: str, image_dir: Path, present: Sequence[str], expected: Sequence[str], source: str) -> None:
    """All expected class folders must exist and no unknown folder may be present."""
    missing = sorted(set(expected) - set(present))
    unknown = sorted(set(present) - set(expected))
    if missing:
        raise DataError(
            f"{name}: {len(missing)} class folders listed in {source} are missing from {image_dir}: "
            f"{_show(missing)}; the dataset is incomplete: re-extract it"
        )
    if unknown:
        raise DataError(
            f"{name}: {image_dir} has {len(unknown)} folders that are not classes of {source}: {_show(unknown)}; "
            "remove them or use the matching classnames.txt"
        )


def read_wnid_folders(
    name: str, image_dir: Path, pairs: Sequence[tuple[str, str]], source: str, subset: bool
) -> tuple[list[str], list[Datum]]:
    """Labels follow the sorted wnid folders (CoOp's rule); names come from ``pairs``.

    ``subset=False``: every listed class must have a folder (ImageNet, -Sketch).
    ``subset=True``: the folders present define the classes (ImageNet-A/-R's 200-class subsets).
    """
    names = dict(pairs)
    present = list_class_folders(image_dir)
    if subset:
        check_folders(name, image_dir, present, [w for w in present if w in names], source)
        if not present:
            raise DataError(f"{name}: {image_dir} has no class folders; re-extract the dataset")
        wnids = present
    else:
        wnids = sorted(names)
        check_folders(name, image_dir, present, wnids, source)
    classnames = [names[w] for w in wnids]
    return classnames, read_class_folders(name, image_dir, wnids, classnames)


def read_test_only_wnid_dataset(
    name: str, dataset_dir: Path, image_dir_candidates: Sequence[str], *, subset: bool, description_file: str | None
) -> DatasetSplits:
    """An ImageNet variant that is one folder of wnid sub-folders, all of it test (ImageNet-Sketch, -A, -R).

    The files come from directory listings, so they exist: no per-file check is needed.
    """
    pairs, source = classnames_for(dataset_dir)
    image_dir = find_dir(dataset_dir, image_dir_candidates, name, "image")
    classnames, test = read_wnid_folders(name, image_dir, pairs, source, subset=subset)
    return finish(name, classnames, [], [], test, description_file=description_file, check_files=False, source=source)
