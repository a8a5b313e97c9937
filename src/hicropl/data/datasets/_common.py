"""Building blocks shared by the dataset readers: split files, folder scans, final checks.

Every failure raises a DataError that names the path involved and what to do, because a wrong
dataset folder is the most common way a reproduction goes wrong.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from hicropl.data import resources
from hicropl.data.files import check_images_exist
from hicropl.data.types import DatasetSplits, Datum
from hicropl.errors import DataError

IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm"})
SPLIT_NAMES = ("train", "val", "test")

# expected_name(relative path, label) -> CoOp's class name for that entry, or None for "no rule".
NameRule = Callable[[str, int], str | None]


def see_docs(name: str) -> str:
    return f"see DATASETS.md (section {name}) or {resources.COOP_DATASETS_DOC}"


def find_dir(dataset_dir: Path, candidates: Sequence[str], name: str, what: str) -> Path:
    """The first candidate sub-folder that exists; otherwise a DataError naming the expected one."""
    for candidate in candidates:
        path = dataset_dir / candidate
        if path.is_dir():
            return path
    expected = dataset_dir / candidates[0]
    others = ", ".join(str(dataset_dir / c) for c in candidates[1:])
    also = f" (or {others})" if others else ""
    raise DataError(f"{name}: the {what} folder {expected}{also} is missing; {see_docs(name)}")


def require_file(path: Path, name: str, what: str) -> Path:
    if not path.is_file():
        raise DataError(f"{name}: the {what} {path} is missing; {see_docs(name)}")
    return path


def read_json_file(path: Path) -> Any:
    try:
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataError(f"cannot read the JSON file {path}: {exc}; replace it with an intact copy") from exc


def load_coop_split(name: str, dataset_dir: Path, shipped: bool) -> tuple[dict[str, Any], str]:
    """CoOp's ``split_zhou_<name>.json``: the user's copy in the dataset folder wins over the shipped one.

    Returns the split and a description of where it came from (for error messages). When the
    split is not shipped (Food101, SUN397) and the folder has none, the error names the exact path
    where it is expected and where to download it.
    """
    filename = f"split_zhou_{name}.json"
    local = dataset_dir / filename
    if local.is_file():
        return read_json_file(local), str(local)
    if not shipped:
        raise DataError(
            f"{name}: the split file {local} is missing. hicropl cannot ship it; download "
            f"{filename} from the link in {resources.COOP_DATASETS_DOC} (section {name}) and put it at {local}"
        )
    return resources.load_split(name), f"{filename} (shipped with hicropl)"


def datums_from_split(
    name: str, split: Any, image_dir: Path, source: str, expected_name: NameRule | None = None
) -> tuple[list[str], dict[str, list[Datum]]]:
    """Turn a CoOp split into Datum lists and the class names in label order, validating it.

    Checks: the three splits exist; each entry is ``[relative path, label, class name]``; labels
    are 0..n-1 with one name each; names agree with CoOp's rule for the path (when one exists).
    """
    if not isinstance(split, dict) or any(k not in split for k in SPLIT_NAMES):
        raise DataError(f"{name}: the split {source} must be a JSON object with keys train, val and test")
    names: dict[int, str] = {}
    out: dict[str, list[Datum]] = {}
    root = str(image_dir)
    for key in SPLIT_NAMES:
        items: list[Datum] = []
        for position, entry in enumerate(split[key]):
            if (
                not isinstance(entry, list | tuple)
                or len(entry) != 3
                or not isinstance(entry[0], str)
                or isinstance(entry[1], bool)
                or not isinstance(entry[1], int)
                or not isinstance(entry[2], str)
            ):
                raise DataError(
                    f"{name}: entry {position} of {key!r} in {source} is {entry!r}; "
                    "expected [relative image path, integer label, class name]"
                )
            relpath, label, classname = entry
            if names.setdefault(label, classname) != classname:
                raise DataError(f"{name}: label {label} is called both {names[label]!r} and {classname!r} in {source}")
            if expected_name is not None:
                wanted = expected_name(relpath, label)
                if wanted is not None and wanted != classname:
                    raise DataError(
                        f"{name}: {source} names the class of {relpath!r} {classname!r}, but CoOp's name is "
                        f"{wanted!r}; this is not CoOp's split file: replace it with CoOp's "
                        f"({resources.COOP_DATASETS_DOC}) or delete it to use the copy shipped with hicropl"
                    )
            items.append(Datum(impath=os.path.join(root, relpath), label=label, classname=classname))
        out[key] = items
    labels = sorted(names)
    if labels != list(range(len(labels))):
        raise DataError(f"{name}: the labels in {source} are not 0..{len(labels) - 1} (found {labels[:10]}...)")
    return [names[label] for label in labels], out


def list_class_folders(directory: Path) -> list[str]:
    """Sorted names of the non-hidden sub-folders."""
    try:
        entries = list(os.scandir(directory))
    except OSError as exc:
        raise DataError(f"cannot list the folder {directory}: {exc}") from exc
    return sorted(e.name for e in entries if e.is_dir() and not e.name.startswith("."))


def list_images(directory: Path) -> list[str]:
    """Sorted absolute paths of the image files in a folder (hidden and non-image files are not data)."""
    try:
        entries = list(os.scandir(directory))
    except OSError as exc:
        raise DataError(f"cannot list the folder {directory}: {exc}") from exc
    return sorted(
        e.path
        for e in entries
        if not e.name.startswith(".") and os.path.splitext(e.name)[1].lower() in IMAGE_EXTENSIONS and e.is_file()
    )


def finish(
    name: str,
    classnames: list[str],
    train: list[Datum],
    val: list[Datum],
    test: list[Datum],
    *,
    description_file: str | None,
    check_files: bool,
    source: str,
) -> DatasetSplits:
    """Assemble the splits, after checking that every listed image exists (unless told not to)."""
    if check_files:
        check_images_exist(
            [*train, *val, *test],
            what=f"{name} ({source})",
            fix=f"download or re-extract {name} so that these files exist; {see_docs(name)}",
        )
    return DatasetSplits(
        name=name, classnames=classnames, train=train, val=val, test=test, description_file=description_file
    )


def read_split_dataset(
    name: str,
    dataset_dir: Path,
    image_dir_candidates: Sequence[str],
    check_files: bool,
    *,
    description_file: str | None,
    expected_name: NameRule | None = None,
    shipped: bool = True,
) -> DatasetSplits:
    """The common case: images under one folder, listed by CoOp's split file."""
    image_dir = find_dir(dataset_dir, image_dir_candidates, name, "image")
    split, source = load_coop_split(name, dataset_dir, shipped)
    classnames, parts = datums_from_split(name, split, image_dir, source, expected_name)
    return finish(
        name,
        classnames,
        parts["train"],
        parts["val"],
        parts["test"],
        description_file=description_file,
        check_files=check_files,
        source=source,
    )


def first_component(relpath: str) -> str:
    return relpath.split("/", 1)[0]
