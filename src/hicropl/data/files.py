"""Existence checks for image lists: report every missing file at once, not the first one per epoch.

Lives apart from the loader so that dataset readers can use it without importing torch.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from hicropl.data.types import Datum
from hicropl.errors import DataError

SHOW_FIRST = 5


def missing_images(data: Iterable[Datum]) -> list[str]:
    """Paths (deduplicated, in first-seen order) of the data whose image file does not exist."""
    missing: list[str] = []
    seen: set[str] = set()
    for datum in data:
        path = datum.impath
        if path in seen:
            continue
        seen.add(path)
        if not os.path.isfile(path):
            missing.append(path)
    return missing


def check_images_exist(data: Iterable[Datum], *, what: str = "", fix: str = "") -> None:
    """Raise a DataError with the count of missing image files and the first few paths.

    ``what`` says which list was checked (e.g. "OxfordPets (split_zhou_OxfordPets.json)") and
    ``fix`` what to do about it; both default to generic wording.
    """
    data = list(data)
    missing = missing_images(data)
    if not missing:
        return
    total = len({d.impath for d in data})
    shown = "\n  ".join(missing[:SHOW_FIRST])
    more = f"\n  ... and {len(missing) - SHOW_FIRST} more" if len(missing) > SHOW_FIRST else ""
    subject = f" listed by {what}" if what else ""
    remedy = fix or "download or re-extract the dataset so that every listed image exists (see DATASETS.md)"
    raise DataError(f"{len(missing)} of {total} images{subject} are missing:\n  {shown}{more}\nFix: {remedy}")


def read_text_lines(file: Path, fix: str, encoding: str = "utf-8-sig") -> list[str]:
    """The lines of a user-supplied text file; unreadable or not UTF-8 is a DataError naming it and ``fix``."""
    try:
        return file.read_text(encoding=encoding).splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"cannot read {file}: {exc}; {fix}") from exc
