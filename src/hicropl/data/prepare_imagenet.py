"""``hicropl data prepare imagenet``: sort ImageNet's flat validation folder into wnid folders.

ILSVRC2012's validation images come as one flat folder (``ILSVRC2012_val_00000001.JPEG`` ...);
CoOp's layout, which the ImageNet reader reads, wants ``imagenet/images/val/<wnid>/``. The label of
each image comes from either official ground truth:

* Kaggle's ``LOC_val_solution.csv`` (columns ``ImageId,PredictionString``; the first token of the
  prediction string is the wnid);
* the devkit's ``ILSVRC2012_validation_ground_truth.txt`` (line i: the ILSVRC2012_ID of image i)
  with a mapping from ILSVRC2012_ID to wnid: the devkit's ``meta.mat`` (read with scipy, when it is
  installed) or a text/CSV file of ``<ILSVRC2012_ID> <wnid>`` lines.

Images are linked (relative symlinks, the default: the flat folder stays as it was) or moved into
their wnid folder one by one, each step atomic, so an interrupted run is finished by running it
again: images already in place are skipped. Then ``classnames.txt`` (the shipped CoOp file, which
the reader would use anyway) is written unless one is there.
"""

from __future__ import annotations

import csv
import os
import re
from dataclasses import dataclass
from pathlib import Path

from hicropl.atomic import atomic_write_text
from hicropl.data import resources
from hicropl.data.files import read_text_lines
from hicropl.data.registry import get_dataset_spec
from hicropl.errors import DataError

KAGGLE_COLUMNS = ("ImageId", "PredictionString")
VAL_NAME = re.compile(r"ILSVRC2012_val_(\d{8})\.JPEG")
WNID = re.compile(r"n\d{8}")
SHOW_FIRST = 5


@dataclass(frozen=True)
class PrepareReport:
    """What one run did: images placed now, found already in place, and listed but nowhere found."""

    val_dir: Path
    placed: int
    already: int
    missing: list[str]
    unlisted: int
    classes: int
    classnames_written: bool


def val_filename(number: int) -> str:
    return f"ILSVRC2012_val_{number:08d}.JPEG"


def read_kaggle_solution(file: Path) -> dict[str, str]:
    """``{image file name: wnid}`` from Kaggle's ``LOC_val_solution.csv``."""
    labels: dict[str, str] = {}
    try:
        with open(file, encoding="utf-8-sig", newline="") as handle:
            reader = csv.reader(handle)
            header = next(reader, None)
            if header is None or tuple(c.strip() for c in header[:2]) != KAGGLE_COLUMNS:
                raise DataError(
                    f"{file} is not Kaggle's LOC_val_solution.csv: its first line must be ImageId,PredictionString"
                )
            for row in reader:
                if not row:
                    continue
                tokens = row[1].split() if len(row) > 1 else []
                if not tokens or not WNID.fullmatch(tokens[0]):
                    raise DataError(
                        f"{file}, line {reader.line_num}: expected 'ImageId,<wnid> ...', got {','.join(row)!r}"
                    )
                labels[f"{row[0].strip()}.JPEG"] = tokens[0]
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise DataError(
            f"cannot read {file}: {exc}; pass the LOC_val_solution.csv from Kaggle's ImageNet release"
        ) from exc
    return labels


def read_meta_mapping(file: Path) -> dict[int, str]:
    """``{ILSVRC2012_ID: wnid}`` from the devkit's ``meta.mat`` (needs scipy) or a text/CSV file."""
    if file.suffix.lower() == ".mat":
        return _read_meta_mat(file)
    lines = read_text_lines(file, "it should be UTF-8 text of '<ILSVRC2012_ID> <wnid>' lines")
    mapping: dict[int, str] = {}
    for number, line in enumerate(lines, start=1):
        tokens = [t for t in re.split(r"[,\s]+", line.strip()) if t]
        if not tokens or (number == 1 and not tokens[0].isdigit()):
            continue  # a blank line or a header
        if len(tokens) < 2 or not tokens[0].isdigit() or not WNID.fullmatch(tokens[1]):
            raise DataError(f"{file}, line {number}: expected '<ILSVRC2012_ID> <wnid>', got {line.strip()!r}")
        mapping[int(tokens[0])] = tokens[1]
    if not mapping:
        raise DataError(f"{file} maps no ILSVRC2012_ID to a wnid; expected lines '<ILSVRC2012_ID> <wnid>'")
    return mapping


def _read_meta_mat(file: Path) -> dict[int, str]:
    try:
        from scipy.io import loadmat  # type: ignore[import-untyped]
    except ImportError:
        raise DataError(
            f"reading {file} needs scipy (pip install scipy); or pass --meta a text file of "
            "'<ILSVRC2012_ID> <wnid>' lines, or use Kaggle's LOC_val_solution.csv as --labels"
        ) from None
    try:
        synsets = loadmat(str(file), squeeze_me=True)["synsets"]
        return {int(s["ILSVRC2012_ID"]): str(s["WNID"]) for s in synsets if int(s["num_children"]) == 0}
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise DataError(
            f"{file} is not the devkit's meta.mat ({exc}); pass the file from ILSVRC2012_devkit_t12/data/"
        ) from exc


def read_devkit_ground_truth(file: Path, meta: Path) -> dict[str, str]:
    """``{image file name: wnid}`` from ``ILSVRC2012_validation_ground_truth.txt`` and the id mapping."""
    mapping = read_meta_mapping(meta)
    lines = [token for line in read_text_lines(file, "pass the devkit's ground-truth file") for token in line.split()]
    labels: dict[str, str] = {}
    for number, token in enumerate(lines, start=1):
        if not token.isdigit() or int(token) not in mapping:
            raise DataError(f"{file}, line {number}: {token!r} is not an ILSVRC2012_ID that {meta} maps to a wnid")
        labels[val_filename(number)] = mapping[int(token)]
    return labels


def read_labels(file: Path, meta: Path | None) -> dict[str, str]:
    """The ground truth in either format (see module docstring), recognised by its first line."""
    if not file.is_file():
        raise DataError(
            f"the ground-truth file {file} does not exist; pass --labels LOC_val_solution.csv or "
            "ILSVRC2012_validation_ground_truth.txt"
        )
    with open(file, encoding="utf-8-sig", errors="replace") as handle:
        first = handle.readline().strip()
    if first.startswith(KAGGLE_COLUMNS[0]):
        return read_kaggle_solution(file)
    if not first.isdigit():
        raise DataError(
            f"{file} is neither Kaggle's LOC_val_solution.csv nor the devkit's ILSVRC2012_validation_ground_truth.txt"
        )
    meta = meta or file.with_name("meta.mat")
    if not meta.is_file():
        raise DataError(
            f"{file} gives ILSVRC2012_IDs, which need the devkit's meta.mat ({meta} is missing): pass --meta"
        )
    return read_devkit_ground_truth(file, meta)


def _place(source: Path, target: Path, move: bool) -> None:
    target.parent.mkdir(exist_ok=True)
    if move:
        os.replace(source, target)
        return
    # Link under a temporary name, then rename: a killed run never leaves a half-made entry.
    temporary = target.with_name(f".{target.name}.tmp")
    temporary.unlink(missing_ok=True)
    os.symlink(os.path.relpath(source, target.parent), temporary)
    os.replace(temporary, target)


def sort_validation(val_dir: Path, labels: dict[str, str], move: bool = False) -> tuple[int, int, list[str]]:
    """Put every labelled image of ``val_dir`` into ``val_dir/<wnid>/``; returns (placed, already, missing)."""
    placed = already = 0
    missing: list[str] = []
    for name in sorted(labels):
        target = val_dir / labels[name] / name
        if target.exists():
            already += 1
            continue
        source = val_dir / name
        if not source.is_file():
            missing.append(str(source))
            continue
        _place(source, target, move)
        placed += 1
    return placed, already, missing


def prepare_imagenet(
    data_root: str | Path, labels_file: str | Path, meta: str | Path | None = None, move: bool = False
) -> PrepareReport:
    """Sort ``<data_root>/imagenet/images/val/`` and write ``classnames.txt``; see the module docstring."""
    root = Path(data_root).expanduser()
    imagenet = get_dataset_spec("ImageNet").dataset_dir(root)
    val_dir = imagenet / "images" / "val"
    if not val_dir.is_dir():
        raise DataError(
            f"the validation folder {val_dir} does not exist; extract ILSVRC2012_img_val.tar into it "
            "(the flat ILSVRC2012_val_*.JPEG files), then run this again"
        )
    labels = read_labels(Path(labels_file).expanduser(), None if meta is None else Path(meta).expanduser())
    placed, already, missing = sort_validation(val_dir, labels, move)
    unlisted = sum(
        1 for e in os.scandir(val_dir) if e.is_file() and VAL_NAME.fullmatch(e.name) and e.name not in labels
    )
    classnames = imagenet / "classnames.txt"
    written = not classnames.is_file()
    if written:
        atomic_write_text(classnames, "".join(f"{wnid} {name}\n" for wnid, name in resources.imagenet_classnames()))
    return PrepareReport(val_dir, placed, already, missing, unlisted, len(set(labels.values())), written)


def format_prepare_report(report: PrepareReport, move: bool) -> str:
    how = "moved" if move else "linked"
    lines = [
        f"{report.val_dir}: {report.placed} images {how} into {report.classes} wnid folders, "
        f"{report.already} already in place"
    ]
    if report.missing:
        shown = ", ".join(report.missing[:SHOW_FIRST])
        lines.append(
            f"{len(report.missing)} labelled images are missing (e.g. {shown}); re-extract the validation archive"
        )
    if report.unlisted:
        lines.append(
            f"{report.unlisted} ILSVRC2012_val_*.JPEG files have no label in the ground truth; left where they are"
        )
    classnames = report.val_dir.parent.parent / "classnames.txt"
    lines.append(f"{classnames}: {'written (the shipped CoOp class names)' if report.classnames_written else 'kept'}")
    return "\n".join(lines)
