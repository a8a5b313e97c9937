"""SHA-256 checksums beside the files the library writes and later trusts: run checkpoints, frozen
feature caches and few-shot caches. One implementation for all of them.

``<file>.sha256`` holds ``<hex>  <file name>`` lines (``sha256sum -c`` reads it). A checked write
lists the new file's hash in the sidecar (with the current file's) before renaming the file into
place and drops the old hash after, both sidecar writes atomic: a process killed at any instant
leaves a file whose hash the sidecar lists, so only a change made after the write (a damaged disk,
a stray edit) fails verification.

Callers decide what a mismatch means: a checkpoint cannot be recomputed (an error naming the file
and the fix), a cache entry can (:func:`usable_cache_entry` discards it with a warning).
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hicropl.atomic import atomic_torch_save, atomic_write_text, remove_orphan_temps

log = logging.getLogger("hicropl.cache")

SUFFIX = ".sha256"
_LINE = re.compile(r"^([0-9a-f]{64}) [ *]?(.*)$")
_cleaned_folders: set[Path] = set()


def sidecar_of(path: Path) -> Path:
    return path.with_name(path.name + SUFFIX)


def file_sha256(path: str | Path, chunk_size: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        while chunk := handle.read(chunk_size):
            digest.update(chunk)
    return digest.hexdigest()


def listed_hashes(path: Path) -> list[str] | None:
    """The hashes the sidecar of ``path`` accepts, or None when there is no (readable) sidecar."""
    try:
        text = sidecar_of(path).read_text("utf-8")
    except (FileNotFoundError, UnicodeDecodeError):
        return None
    return [match[1] for line in text.splitlines() if (match := _LINE.match(line.strip()))]


def _write_sidecar(path: Path, hashes: list[str]) -> None:
    atomic_write_text(sidecar_of(path), "".join(f"{h}  {path.name}\n" for h in hashes))


def _checked_write(path: Path, write: Callable[[Callable[[Path], None]], None]) -> None:
    new: list[str] = []

    def list_new_hash(tmp: Path) -> None:
        new.append(file_sha256(tmp))
        listed = listed_hashes(path)
        current = listed if listed is not None and len(listed) == 1 else []
        if not current and path.is_file():
            current = [file_sha256(path)]
        _write_sidecar(path, [new[0], *(h for h in current if h != new[0])])

    write(list_new_hash)
    try:
        _write_sidecar(path, new)
    except OSError:  # the sidecar still lists the new hash (with the old one): the file verifies
        log.debug("Could not drop the old hash from %s", sidecar_of(path), exc_info=True)


def checked_torch_save(obj: Any, path: str | Path) -> None:
    """``torch.save`` atomically, with the file's checksum beside it."""
    path = Path(path)
    _checked_write(path, lambda before: atomic_torch_save(obj, path, before_replace=before))


def checked_write_text(path: str | Path, text: str) -> None:
    """Write ``text`` atomically, with the file's checksum beside it."""
    path = Path(path)
    _checked_write(path, lambda before: atomic_write_text(path, text, before_replace=before))


def verify(path: Path) -> bool | None:
    """True when ``path`` has a hash its sidecar lists, False when it has not (it changed after it was
    written), None when there is no sidecar to check against."""
    listed = listed_hashes(path)
    if listed is None:
        return None
    return file_sha256(path) in listed


def discard(path: Path) -> None:
    """Delete a file and its checksum."""
    path.unlink(missing_ok=True)
    sidecar_of(path).unlink(missing_ok=True)


def usable_cache_entry(path: Path, what: str) -> bool:
    """Whether the cache file ``path`` exists and is as it was written. An entry that fails its checksum
    (or has none: damaged, or written before checksums) is deleted with a warning, to be recomputed."""
    clean_cache_folder(path.parent)
    if not path.is_file():
        return False
    verdict = verify(path)
    if verdict:
        return True
    why = "has no checksum" if verdict is None else "does not match its checksum (it changed after it was written)"
    log.warning("The %s %s %s; discarding it and computing it again.", what, path, why)
    discard(path)
    return False


def clean_cache_folder(folder: Path) -> None:
    """Remove killed writers' temp files from a cache folder, once per process and folder."""
    if folder in _cleaned_folders:
        return
    _cleaned_folders.add(folder)
    for orphan in remove_orphan_temps(folder):
        log.info("Removed %s, left by a write that was killed.", orphan)
