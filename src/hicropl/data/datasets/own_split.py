"""The train/val/test split of a user's own dataset, made once and then read back from a split file.

Images a source does not assign to a split are split per class: sorted by path, shuffled by a
generator seeded with the class key, then 50% train, 20% val and the rest test (CoOp's proportions
for the datasets it splits itself), at least one image in each. Seeding by class key means adding
or removing a class leaves the other classes' splits as they were.

The split is written beside the data (``hicropl_split.json`` in a class-folder dataset,
``<stem>.hicropl_split.json`` next to a CSV) on first use, after checking that every image decodes,
and every later read (training, resuming, ``hicropl eval``) takes the split from that file: images
added to the folder later are left out (with a warning) instead of silently moving the test set,
and images that disappear are reported. Beside the data rather than in a run folder, because every
run of every method and seed on the dataset must share one test set, as with CoOp's split files.
Delete the file to split again.
"""

from __future__ import annotations

import json
import logging
import random
from pathlib import Path
from typing import Any

from hicropl.atomic import atomic_write_text
from hicropl.data.datasets._common import SPLIT_NAMES, datums_from_split, read_json_file
from hicropl.data.datasets.own_listing import OwnEntry, OwnListing
from hicropl.data.types import Datum
from hicropl.errors import DataError

log = logging.getLogger("hicropl.data")

SPLIT_FORMAT = 1
TRAIN_FRACTION = 0.5
VAL_FRACTION = 0.2
MIN_IMAGES_PER_CLASS = 3
SHOW_FIRST = 5


def _counts(total: int) -> tuple[int, int]:
    """(train, val) image counts of a class of ``total`` (at least 3) images; the rest, at least one, is test."""
    val = max(1, int(total * VAL_FRACTION + 0.5))
    train = min(max(1, int(total * TRAIN_FRACTION + 0.5)), total - val - 1)
    return train, val


def split_entries(listing: OwnListing) -> dict[str, list[OwnEntry]]:
    """The split the source gives, or the seeded per-class split of every class (see module docstring)."""
    parts: dict[str, list[OwnEntry]] = {s: [] for s in SPLIT_NAMES}
    if listing.presplit:
        for entry in listing.entries:
            parts[entry.split or "train"].append(entry)
        return parts
    by_key: dict[str, list[OwnEntry]] = {}
    for entry in listing.entries:
        by_key.setdefault(entry.key, []).append(entry)
    small = [f"{key} ({len(by_key[key])})" for key in listing.keys if len(by_key[key]) < MIN_IMAGES_PER_CLASS]
    if small:
        raise DataError(
            f"{listing.base}: the classes {', '.join(small[:SHOW_FIRST])} have fewer than {MIN_IMAGES_PER_CLASS} "
            "images, too few to split into train, val and test; add images to them or remove them"
        )
    for key in listing.keys:
        items = sorted(by_key[key], key=lambda e: e.relpath)
        random.Random(f"hicropl-split:{key}").shuffle(items)
        train, val = _counts(len(items))
        parts["train"].extend(items[:train])
        parts["val"].extend(items[train : train + val])
        parts["test"].extend(items[train + val :])
    return parts


def _unreadable(listing: OwnListing) -> list[str]:
    from hicropl.data.loader import image_is_valid  # torch-free readers import this module too

    paths = [str(listing.base / e.relpath) for e in listing.entries]
    return [path for path in paths if not image_is_valid(path)]


def _payload(listing: OwnListing, parts: dict[str, list[OwnEntry]], source: str) -> dict[str, Any]:
    label = {key: i for i, key in enumerate(listing.keys)}
    payload: dict[str, Any] = {
        "format": SPLIT_FORMAT,
        "source": source,
        "rule": "given by the source"
        if listing.presplit
        else f"per class: {TRAIN_FRACTION:.0%} train, {VAL_FRACTION:.0%} val, the rest test, seeded by the class key",
        "classes": list(listing.keys),
    }
    for split in SPLIT_NAMES:
        payload[split] = [[e.relpath, label[e.key], e.key] for e in sorted(parts[split], key=lambda e: e.relpath)]
    return payload


def _as_text(payload: dict[str, Any]) -> str:
    """JSON with one image per line, so that a diff of two split files shows the images that moved."""
    lines = []
    for key, value in payload.items():
        if key in SPLIT_NAMES:
            rows = ",\n".join(f"    {json.dumps(row)}" for row in value)
            lines.append(f"  {json.dumps(key)}: [\n{rows}\n  ]" if rows else f"  {json.dumps(key)}: []")
        else:
            lines.append(f"  {json.dumps(key)}: {json.dumps(value)}")
    return "{\n" + ",\n".join(lines) + "\n}\n"


def make_split_file(listing: OwnListing, split_file: Path, source: str) -> dict[str, Any]:
    """Split ``listing``, check that its images decode, and record the split in ``split_file``."""
    bad = _unreadable(listing)
    if bad:
        more = f" ... and {len(bad) - SHOW_FIRST} more" if len(bad) > SHOW_FIRST else ""
        raise DataError(
            f"{len(bad)} images of {source} cannot be decoded: {', '.join(bad[:SHOW_FIRST])}{more}; "
            "replace or delete them"
        )
    payload = _payload(listing, split_entries(listing), source)
    try:
        atomic_write_text(split_file, _as_text(payload))
        log.info("%s: split recorded in %s (delete it to split again)", source, split_file)
    except OSError as exc:
        log.warning(
            "%s: cannot record the split in %s (%s); it is recomputed on every read, so images added to the "
            "dataset later will change it",
            source,
            split_file,
            exc,
        )
    return payload


def _check_against_listing(payload: dict[str, Any], listing: OwnListing, split_file: Path) -> None:
    """The split file must still describe the data: same classes; for a pre-split source, same split."""
    recorded = payload.get("classes")
    if not isinstance(recorded, list):
        raise DataError(f"the split file {split_file} has no list of classes; delete it to split again")
    new = sorted(set(listing.keys) - set(recorded))
    if new:
        raise DataError(
            f"the data has classes {new[:SHOW_FIRST]} that its split file {split_file} does not know; delete the "
            "split file to split again (this changes the test set: results of earlier runs are not comparable)"
        )
    listed = {(e[0], e[2]) for s in SPLIT_NAMES for e in payload[s] if isinstance(e, list) and len(e) == 3}
    if listing.presplit:
        given = _payload(listing, split_entries(listing), "")
        if any(given[s] != payload[s] for s in SPLIT_NAMES) or given["classes"] != recorded:
            raise DataError(
                f"the split given by the data no longer matches its split file {split_file}; delete the split "
                "file to accept the new split (results of earlier runs are then not comparable)"
            )
        return
    added = [e for e in listing.entries if (e.relpath, e.key) not in listed]
    if added:
        log.warning(
            "%d images are not in the split file %s (e.g. %s) and are not used; delete it to split again",
            len(added),
            split_file,
            listing.base / added[0].relpath,
        )


def own_split(
    name: str, listing: OwnListing, split_file: Path, source: str
) -> tuple[list[str], dict[str, list[Datum]]]:
    """Class keys in label order and the Datums per split (``classname`` is the class key here)."""
    if split_file.is_file():
        payload = read_json_file(split_file)
        where = str(split_file)
        if not isinstance(payload, dict) or payload.get("format") != SPLIT_FORMAT:
            raise DataError(f"the split file {split_file} is not a hicropl split file; delete it to split again")
    else:
        payload = make_split_file(listing, split_file, source)
        where = f"the split of {source}"
    keys, parts = datums_from_split(name, payload, listing.base, where)
    if keys != payload.get("classes"):
        raise DataError(f"the split file {split_file} lists classes that no image has; delete it to split again")
    _check_against_listing(payload, listing, split_file)
    return keys, parts
