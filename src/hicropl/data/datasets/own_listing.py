"""What a user's own dataset holds: its images, their class keys and (when given) their split.

Two sources, both read into the same :class:`OwnListing`:

* a folder of class folders, ``PATH/<class>/**/<image>``, or already split,
  ``PATH/{train,val,test}/<class>/**/<image>`` (``val`` optional);
* a CSV file with the header ``path,label`` (and optionally ``split``), paths relative to the CSV's
  folder (or absolute).

A class *key* is the class folder's name or the CSV's label; display names come later (see
``own.py``). Every problem raises a DataError naming the file or folder and the fix, because a
silently skipped class or image would change every number computed on the dataset.
"""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass
from pathlib import Path

from hicropl.data.datasets._common import IMAGE_EXTENSIONS, SPLIT_NAMES, list_class_folders
from hicropl.errors import DataError

CSV_REQUIRED = ("path", "label")
CSV_COLUMNS = ("path", "label", "split")
SHOW_FIRST = 5


@dataclass(frozen=True)
class OwnEntry:
    """One image: its path relative to the listing's base folder, its class key and its given split."""

    relpath: str
    key: str
    split: str | None = None


@dataclass(frozen=True)
class OwnListing:
    """The images of a dataset source; ``keys`` are the class keys in label order (sorted)."""

    base: Path
    keys: list[str]
    entries: list[OwnEntry]

    @property
    def presplit(self) -> bool:
        """Whether the source says which split each image belongs to."""
        return bool(self.entries) and self.entries[0].split is not None


def _is_image(name: str) -> bool:
    return not name.startswith(".") and os.path.splitext(name)[1].lower() in IMAGE_EXTENSIONS


def _images_under(folder: Path) -> list[Path]:
    """Image files anywhere below ``folder`` (hidden files and folders skipped), sorted."""
    found: list[Path] = []
    for current, dirs, files in os.walk(folder, followlinks=True):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        found.extend(Path(current) / f for f in files if _is_image(f))
    return sorted(found)


def _loose_images(folder: Path) -> list[str]:
    try:
        return sorted(e.name for e in os.scandir(folder) if e.is_file() and _is_image(e.name))
    except OSError as exc:
        raise DataError(f"cannot list the folder {folder}: {exc}") from exc


def _no_loose_images(folder: Path) -> None:
    loose = _loose_images(folder)
    if loose:
        raise DataError(
            f"{folder} holds images outside any class folder ({', '.join(loose[:3])}"
            f"{' ...' if len(loose) > 3 else ''}); move each image into the folder of its class "
            f"({folder}/<class>/) or delete it"
        )


def _class_folders(folder: Path, base: Path, split: str | None) -> list[OwnEntry]:
    """The images of ``folder/<class>/``; an empty class folder or a loose image is an error."""
    _no_loose_images(folder)
    keys = list_class_folders(folder)
    if not keys:
        raise DataError(
            f"{folder} has no class folders; put the images of each class in their own sub-folder "
            f"({folder}/<class>/<image>.jpg), see DATASETS.md (Your own data)"
        )
    entries: list[OwnEntry] = []
    for key in keys:
        images = _images_under(folder / key)
        if not images:
            raise DataError(
                f"the class folder {folder / key} has no images ({', '.join(sorted(IMAGE_EXTENSIONS))}); "
                "add images to it or remove it"
            )
        entries.extend(OwnEntry(image.relative_to(base).as_posix(), key, split) for image in images)
    return entries


def list_folder(path: Path) -> OwnListing:
    """A folder of class folders, or of ``train``/``val``/``test`` folders of class folders."""
    if not path.is_dir():
        raise DataError(
            f"the dataset folder {path} does not exist or is not a folder; pass --dataset folder:PATH with the "
            "folder that holds one sub-folder per class"
        )
    subfolders = set(list_class_folders(path))
    if {"train", "test"} <= subfolders and subfolders <= set(SPLIT_NAMES):
        _no_loose_images(path)
        entries = [e for split in SPLIT_NAMES if split in subfolders for e in _class_folders(path / split, path, split)]
        keys = sorted({e.key for e in entries})
        lacking = sorted(set(keys) - {e.key for e in entries if e.split == "train"})
        if lacking:
            raise DataError(
                f"{path / 'train'} has no folder for the classes {lacking[:5]} that {path} has in val or test; "
                "every class needs training images: add them or remove those classes"
            )
        return OwnListing(path, keys, entries)
    entries = _class_folders(path, path, None)
    return OwnListing(path, sorted({e.key for e in entries}), entries)


def _csv_header(header: list[str] | None, file: Path) -> list[str]:
    if header is None:
        raise DataError(f"the CSV file {file} is empty; write a header line `path,label` and one line per image")
    columns = [c.strip().lower() for c in header]
    unknown = [c for c in columns if c not in CSV_COLUMNS]
    if unknown:
        raise DataError(
            f"the CSV file {file} has unknown columns {unknown} in its first line {','.join(header)!r}; the first "
            f"line must name the columns: path,label (and optionally split)"
        )
    missing = [c for c in CSV_REQUIRED if c not in columns]
    duplicated = sorted({c for c in columns if columns.count(c) > 1})
    if missing or duplicated:
        problem = f"no column {missing}" if missing else f"the columns {duplicated} twice"
        raise DataError(f"the CSV file {file} has {problem}; its first line must be path,label (optionally ,split)")
    return columns


def _csv_rows(file: Path) -> tuple[list[str], list[tuple[int, dict[str, str]]]]:
    try:
        with open(file, encoding="utf-8-sig", newline="") as handle:
            reader = csv.reader(handle)
            columns = _csv_header(next(reader, None), file)
            rows = []
            for row in reader:
                if not any(cell.strip() for cell in row):
                    continue
                if len(row) != len(columns):
                    raise DataError(
                        f"{file}, line {reader.line_num}: {len(row)} values for the {len(columns)} columns "
                        f"{','.join(columns)}; quote paths or labels that contain commas"
                    )
                rows.append((reader.line_num, {c: cell.strip() for c, cell in zip(columns, row, strict=True)}))
    except FileNotFoundError:
        raise DataError(f"the CSV file {file} does not exist; pass --dataset csv:FILE with an existing file") from None
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise DataError(f"cannot read the CSV file {file}: {exc}; save it as UTF-8 text") from exc
    return columns, rows


def list_csv(file: Path) -> OwnListing:
    """A CSV of ``path,label[,split]`` rows; paths relative to the CSV's folder or absolute."""
    columns, rows = _csv_rows(file)
    base = file.parent
    has_split = "split" in columns
    entries: list[OwnEntry] = []
    missing: list[str] = []
    seen: dict[str, int] = {}
    for line, row in rows:
        path, key = row["path"], row["label"]
        if not path or not key:
            raise DataError(f"{file}, line {line}: the path and the label must not be empty")
        split = row.get("split", "").lower() if has_split else None
        if has_split and split not in SPLIT_NAMES:
            raise DataError(f"{file}, line {line}: split {row['split']!r} is not one of train, val, test")
        absolute = Path(os.path.normpath(base / Path(path).expanduser()))
        relpath = os.path.relpath(absolute, base) if not Path(path).expanduser().is_absolute() else str(absolute)
        if relpath in seen:
            raise DataError(f"{file}, line {line}: {path} is already listed on line {seen[relpath]}; list it once")
        seen[relpath] = line
        if not absolute.is_file():
            missing.append(f"line {line}: {absolute}")
        entries.append(OwnEntry(Path(relpath).as_posix(), key, split))
    if missing:
        more = f" ... and {len(missing) - SHOW_FIRST} more" if len(missing) > SHOW_FIRST else ""
        raise DataError(
            f"{len(missing)} of {len(entries)} images listed in {file} are missing ({'; '.join(missing[:SHOW_FIRST])}"
            f"{more}); paths are relative to {base}: correct them or remove those lines"
        )
    if not entries:
        raise DataError(f"the CSV file {file} lists no images; add one line `path,label` per image")
    keys = sorted({e.key for e in entries})
    if has_split:
        lacking = sorted(set(keys) - {e.key for e in entries if e.split == "train"})
        if lacking:
            raise DataError(
                f"{file}: the labels {lacking[:5]} have no image with split train; every class needs training images"
            )
    return OwnListing(base, keys, entries)
