"""Seeded K-shot sampling, with a JSON cache and reuse of CoOp's pickled few-shot splits.

Sampling depends only on the image list and the seed: each class's images are sorted by path and
drawn with a private ``random.Random(seed)`` in sorted label order, so the result is the same in
every process and on every filesystem. Order of precedence for a (dataset, K, seed):

1. CoOp's cache ``<dataset_dir>/split_fewshot/shot_{K}-seed_{S}.pkl`` (loaded without executing
   code, paths re-rooted onto the user's folder): reproduces published runs exactly.
2. Our JSON cache under ``cache_dir`` (keyed by dataset, K, seed and a hash of the image list), with a
   SHA-256 checksum beside each file (:mod:`hicropl.checksums`): a file changed after it was written is
   discarded, with a warning, and sampled again.
3. Fresh sampling (then written to the JSON cache when ``cache_dir`` is given).
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

from hicropl.checksums import checked_write_text, usable_cache_entry
from hicropl.data.safe_pickle import CoOpDatum, load_restricted
from hicropl.data.types import DatasetSplits, Datum
from hicropl.errors import ConfigError, DataError

CACHE_FORMAT = 1
VAL_SHOTS_CAP = 4

Source = Literal["all", "coop-cache", "json-cache", "sampled"]


@dataclass(frozen=True)
class FewShotResult:
    """The sampled splits and where they came from (for run records).

    ``data_hash`` identifies the full image list that was sampled from ("" when no sampling was
    asked for, i.e. all data).
    """

    splits: DatasetSplits
    source: Source
    path: str | None
    data_hash: str


def normalize_shots(shots: int | None) -> int | None:
    """``None``, 0 and negative values mean "all data" (CoOp: ``num_shots < 1``); returns K or None."""
    if shots is None:
        return None
    if isinstance(shots, bool) or not isinstance(shots, int):
        raise ConfigError(f"shots must be an integer (or None/0/-1 for all data), not {shots!r}")
    return shots if shots >= 1 else None


def sample_per_class(data: Iterable[Datum], shots: int, rng: random.Random) -> list[Datum]:
    """K images per class (all of them when a class has fewer), classes in label order."""
    by_label: dict[int, list[Datum]] = {}
    for datum in data:
        by_label.setdefault(datum.label, []).append(datum)
    out: list[Datum] = []
    for label in sorted(by_label):
        items = sorted(by_label[label], key=lambda d: (d.impath, d.classname, d.domain))
        out.extend(rng.sample(items, shots) if len(items) >= shots else items)
    return out


def classes_with_fewer(data: Iterable[Datum], classnames: Sequence[str], shots: int) -> dict[str, int]:
    """The classes (in label order) that have fewer than ``shots`` images in ``data``, with their counts."""
    counts = [0] * len(classnames)
    for datum in data:
        counts[datum.label] += 1
    return {name: count for name, count in zip(classnames, counts, strict=True) if count < shots}


def data_hash(splits: DatasetSplits) -> str:
    """SHA-256 over the class names and the sorted train and val image lists (order-independent)."""
    digest = hashlib.sha256()
    digest.update(json.dumps([splits.name, splits.classnames]).encode("utf-8"))
    for part in (splits.train, [] if splits.val_is_test else splits.val):
        rows = sorted(f"{d.impath}\t{d.label}\t{d.classname}\t{d.domain}" for d in part)
        digest.update(("\n".join(rows) + "\x00").encode("utf-8"))
    return digest.hexdigest()


def coop_cache_path(dataset_dir: str | Path, shots: int, seed: int) -> Path:
    """Where CoOp stores its few-shot split for (K, seed)."""
    return Path(dataset_dir) / "split_fewshot" / f"shot_{shots}-seed_{seed}.pkl"


def json_cache_path(cache_dir: str | Path, name: str, shots: int, seed: int, digest: str) -> Path:
    safe = re.sub(r"[^0-9A-Za-z_.-]", "_", name)
    return Path(cache_dir).expanduser() / "fewshot" / f"{safe}-shot_{shots}-seed_{seed}-{digest[:16]}.json"


def sample_few_shot(
    splits: DatasetSplits,
    shots: int | None,
    seed: int,
    cache_dir: str | Path | None = None,
    dataset_dir: str | Path | None = None,
) -> DatasetSplits:
    """K images per class for train and min(K, 4) for val; test untouched. See ``few_shot_split``."""
    return few_shot_split(splits, shots, seed, cache_dir=cache_dir, dataset_dir=dataset_dir).splits


def few_shot_split(
    splits: DatasetSplits,
    shots: int | None,
    seed: int,
    cache_dir: str | Path | None = None,
    dataset_dir: str | Path | None = None,
) -> FewShotResult:
    """Like ``sample_few_shot`` but also says whether a CoOp cache, our cache or fresh sampling was used.

    Datasets whose validation is the test set (ImageNet) have only their train list sampled.
    ``dataset_dir`` enables reuse of CoOp's pickled cache; ``cache_dir`` enables our JSON cache.
    """
    k = normalize_shots(shots)
    if k is None:
        return FewShotResult(splits, "all", None, "")
    if not splits.train:
        raise DataError(f"{splits.name} has no training images (it is test-only): it cannot be few-shot sampled")
    digest = data_hash(splits)
    if dataset_dir is not None:
        folder = Path(dataset_dir).expanduser()
        pickle_path = coop_cache_path(folder, k, seed)
        if pickle_path.is_file():
            train, val = _from_coop_cache(pickle_path, splits, folder)
            return FewShotResult(replace(splits, train=train, val=val), "coop-cache", str(pickle_path), digest)
    cache_path = json_cache_path(cache_dir, splits.name, k, seed, digest) if cache_dir is not None else None
    if cache_path is not None and usable_cache_entry(cache_path, "few-shot cache"):
        train, val = _from_json_cache(cache_path, splits, k, seed, digest)
        return FewShotResult(replace(splits, train=train, val=val), "json-cache", str(cache_path), digest)
    rng = random.Random(seed)
    train = sample_per_class(splits.train, k, rng)
    val = splits.val if splits.val_is_test else sample_per_class(splits.val, min(k, VAL_SHOTS_CAP), rng)
    if cache_path is not None:
        _write_json_cache(cache_path, splits, k, seed, digest, train, None if splits.val_is_test else val)
    return FewShotResult(
        replace(splits, train=train, val=val), "sampled", str(cache_path) if cache_path else None, digest
    )


# --- our JSON cache -------------------------------------------------------------------------------


def _rows(data: Sequence[Datum]) -> list[list[object]]:
    return [[d.impath, d.label, d.classname, d.domain] for d in data]


def _write_json_cache(
    path: Path,
    splits: DatasetSplits,
    shots: int,
    seed: int,
    digest: str,
    train: Sequence[Datum],
    val: Sequence[Datum] | None,
) -> None:
    payload = {
        "format": CACHE_FORMAT,
        "dataset": splits.name,
        "shots": shots,
        "seed": seed,
        "data_hash": digest,
        "train": _rows(train),
        "val": None if val is None else _rows(val),
    }
    try:
        checked_write_text(path, json.dumps(payload))  # a concurrent reader never sees half a file
    except OSError as exc:
        raise DataError(f"cannot write the few-shot cache {path}: {exc}; choose a writable cache folder") from exc


def _lookup(rows: object, by_path: dict[str, Datum], path: Path, key: str) -> list[Datum]:
    if not isinstance(rows, list):
        raise DataError(f"the few-shot cache {path} has no list {key!r}; delete it to resample")
    out: list[Datum] = []
    for row in rows:
        datum = by_path.get(row[0]) if isinstance(row, list) and row else None
        if datum is None or [datum.impath, datum.label, datum.classname, datum.domain] != row:
            raise DataError(f"the few-shot cache {path} does not match the dataset ({row!r}); delete it to resample")
        out.append(datum)
    return out


def _from_json_cache(
    path: Path, splits: DatasetSplits, shots: int, seed: int, digest: str
) -> tuple[list[Datum], list[Datum]]:
    try:
        payload = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataError(f"cannot read the few-shot cache {path}: {exc}; delete it to resample") from exc
    expected = {
        "format": CACHE_FORMAT,
        "dataset": splits.name,
        "shots": shots,
        "seed": seed,
        "data_hash": digest,
    }
    if not isinstance(payload, dict) or any(payload.get(k) != v for k, v in expected.items()):
        raise DataError(f"the few-shot cache {path} was written for another dataset or version; delete it")
    train = _lookup(payload.get("train"), {d.impath: d for d in splits.train}, path, "train")
    if splits.val_is_test:
        return train, splits.val
    return train, _lookup(payload.get("val"), {d.impath: d for d in splits.val}, path, "val")


# --- CoOp's pickled cache -------------------------------------------------------------------------


def reroot(impath: str, dataset_dir: Path, known: dict[str, Datum]) -> Datum | None:
    """Find the user's datum for a path pickled on another machine.

    Tries the path itself, then ``dataset_dir`` joined with ever shorter tails of it, longest
    first: ``/home/a/data/oxford_pets/images/x.jpg`` matches ``<dataset_dir>/images/x.jpg``.
    """
    hit = known.get(os.path.normpath(impath))
    if hit is not None:
        return hit
    parts = [p for p in re.split(r"[\\/]+", impath) if p and not re.fullmatch(r"[A-Za-z]:", p)]
    base = str(dataset_dir)
    for start in range(len(parts)):
        hit = known.get(os.path.normpath(os.path.join(base, *parts[start:])))
        if hit is not None:
            return hit
    return None


def _coop_items(payload: dict[str, object], key: str, path: Path) -> list[CoOpDatum]:
    items = payload.get(key)
    if not isinstance(items, list) or not all(isinstance(i, CoOpDatum) for i in items):
        raise DataError(f"the CoOp few-shot cache {path} has no list of Datum under {key!r}; delete it to resample")
    return items  # type: ignore[return-value]


def _map_items(items: list[CoOpDatum], pool: Sequence[Datum], dataset_dir: Path, path: Path) -> list[Datum]:
    known = {os.path.normpath(d.impath): d for d in pool}
    base = Path(dataset_dir).expanduser().absolute()
    out: list[Datum] = []
    unmatched: list[str] = []
    for item in items:
        try:
            impath, label = item.field("impath"), item.field("label")
        except KeyError as exc:
            raise DataError(f"a Datum in the CoOp few-shot cache {path} has no {exc}; delete it to resample") from None
        datum = reroot(str(impath), base, known)
        if datum is None:
            unmatched.append(str(impath))
            continue
        if datum.label != label:
            raise DataError(
                f"the CoOp few-shot cache {path} gives {impath} label {label}, but the dataset gives "
                f"{datum.label} ({datum.classname!r}); it was made with another class order: delete it to resample"
            )
        out.append(datum)
    if unmatched:
        shown = "\n  ".join(unmatched[:5])
        raise DataError(
            f"{len(unmatched)} of {len(items)} images in the CoOp few-shot cache {path} are not in the dataset "
            f"under {base}:\n  {shown}\nFix: point the data root at the dataset this cache was made for, or "
            "delete the cache to resample"
        )
    return out


def _from_coop_cache(path: Path, splits: DatasetSplits, dataset_dir: Path) -> tuple[list[Datum], list[Datum]]:
    payload = load_restricted(path)
    if not isinstance(payload, dict):
        raise DataError(f"the CoOp few-shot cache {path} is not a dict with 'train' and 'val'; delete it to resample")
    train = _map_items(_coop_items(payload, "train", path), splits.train, dataset_dir, path)
    if splits.val_is_test:
        return train, splits.val
    val = _map_items(_coop_items(payload, "val", path), splits.val, dataset_dir, path)
    return train, val
