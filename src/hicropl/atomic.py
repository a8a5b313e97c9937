"""Atomic file writes: a reader sees the old file or the new one, never a partial write.

Every writer goes through ``_replace_atomically``: write a temp file in the same folder (so the
rename stays on one file system), flush it to disk, then rename it over the target. On any failure
(a full disk, an interrupt, an object that cannot be serialised) the temp file is removed and the
target is left as it was; a full disk becomes :class:`DiskFullError`, one line naming the file.

Temp files are named ``.<target>.<pid>@<host>.<token>.tmp`` and created with mode 0666 less the
umask (the usual 0644, not mkstemp's 0600), so colleagues on shared storage can read what the
library writes. The pid and host in the name let :func:`remove_orphan_temps` tell the leftovers of a
killed writer from the temp file of a writer that is still running.
"""

from __future__ import annotations

import errno
import os
import re
import secrets
import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import torch

from hicropl.errors import HicroplError

# A temp file of another host cannot be checked for a live writer; it is an orphan once this old.
FOREIGN_TEMP_AGE_S = 24 * 3600
# mkstemp-named temp files of earlier versions carry no pid; no single write takes this long.
UNNAMED_TEMP_AGE_S = 3600

_TEMP_NAME = re.compile(r"^\.(?P<target>.+)\.(?P<pid>\d+)@(?P<host>[A-Za-z0-9-]*)\.[0-9a-f]+\.tmp$")
_UNNAMED_TEMP_NAME = re.compile(r"^\..+\.[A-Za-z0-9_]{8}\.tmp$")  # tempfile.mkstemp's, as written before


class DiskFullError(HicroplError, OSError):
    """A write ran out of space (ENOSPC or EDQUOT); the previous file, if any, is intact."""

    def __str__(self) -> str:
        return str(self.strerror)


def host_name() -> str:
    """This machine's name as lock files and temp-file names record it (letters, digits and ``-``)."""
    return re.sub(r"[^A-Za-z0-9-]", "-", socket.gethostname().split(".")[0]) or "localhost"


def pid_is_alive(pid: int) -> bool:
    """Whether a process ``pid`` exists on this machine (one we may not signal still counts)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def is_disk_full(exc: BaseException) -> bool:
    return isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT)


def disk_full_error(path: Path, exc: OSError, kept: str | None = None) -> DiskFullError:
    """The one-line error for a write to ``path`` that ran out of space."""
    if kept is None:
        kept = f"the previous {path.name} is intact" if path.exists() else f"no {path.name} was written"
    return DiskFullError(
        exc.errno,
        f"Could not write {path}: the disk is full ({os.strerror(exc.errno or errno.ENOSPC)}); {kept}. Free space on "
        "that file system (or write elsewhere: --output, HICROPL_CACHE), then rerun the same command.",
    )


class _RecordingWriter:
    """A binary file that remembers the OSError of a failed write: ``torch.save`` turns that error into
    a RuntimeError without its errno, and the errno is what tells a full disk from a bug."""

    def __init__(self, handle: IO[bytes]) -> None:
        self.handle = handle
        self.error: OSError | None = None

    def write(self, data: Any) -> int:
        try:
            return self.handle.write(data)
        except OSError as exc:
            self.error = exc
            raise

    def flush(self) -> None:
        try:
            self.handle.flush()
        except OSError as exc:
            self.error = exc
            raise


def _temp_path(path: Path) -> Path:
    return path.parent / f".{path.name}.{os.getpid()}@{host_name()}.{secrets.token_hex(4)}.tmp"


def _open_temp(path: Path) -> tuple[int, Path]:
    while True:
        tmp = _temp_path(path)
        try:
            return os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666), tmp
        except FileExistsError:
            continue


def _replace_atomically(
    path: str | Path, write: Callable[[_RecordingWriter], object], before_replace: Callable[[Path], None] | None = None
) -> None:
    """Write through ``write`` into a temp file, then rename it over ``path``; ``before_replace`` sees the
    complete temp file just before the rename (the checksums use it)."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = _open_temp(path)
    except OSError as exc:
        if is_disk_full(exc):
            raise disk_full_error(path, exc) from exc
        raise
    writer: _RecordingWriter | None = None
    try:
        with os.fdopen(fd, "wb") as handle:
            writer = _RecordingWriter(handle)
            write(writer)
            writer.flush()
            os.fsync(handle.fileno())
        if before_replace is not None:
            before_replace(tmp)
        os.replace(tmp, path)
    except BaseException as exc:
        tmp.unlink(missing_ok=True)
        cause = writer.error if writer is not None and writer.error is not None else exc
        if is_disk_full(cause) and not isinstance(cause, DiskFullError):
            assert isinstance(cause, OSError)
            raise disk_full_error(path, cause) from exc
        raise


def atomic_write_text(path: str | Path, text: str, before_replace: Callable[[Path], None] | None = None) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    data = text.encode("utf-8")
    _replace_atomically(path, lambda handle: handle.write(data), before_replace)


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically."""
    _replace_atomically(path, lambda handle: handle.write(data))


def atomic_torch_save(obj: Any, path: str | Path, before_replace: Callable[[Path], None] | None = None) -> None:
    """``torch.save(obj, path)`` atomically."""
    _replace_atomically(path, lambda handle: torch.save(obj, handle), before_replace)  # type: ignore[arg-type]


def remove_orphan_temps(folder: str | Path, *, exclusive: bool = False) -> list[Path]:
    """Remove the temp files that killed writers left in ``folder``; returns them.

    A temp file is an orphan when its writer is gone: its pid is dead on this host, or (another
    host's, or one named by an earlier version) it is older than any write takes. ``exclusive``: the
    caller holds the folder's lock, so no other writer can be live and every temp file is an orphan.
    """
    folder = Path(folder)
    try:
        entries = list(os.scandir(folder))
    except (FileNotFoundError, NotADirectoryError):
        return []
    removed = []
    now, here = time.time(), host_name()
    for entry in entries:
        if not entry.name.startswith(".") or not entry.name.endswith(".tmp") or not entry.is_file():
            continue
        match = _TEMP_NAME.match(entry.name)
        try:
            age = now - entry.stat().st_mtime
        except FileNotFoundError:
            continue
        if match is not None and match["host"] == here:
            orphan = exclusive or not pid_is_alive(int(match["pid"]))
        elif match is not None:
            orphan = exclusive or age > FOREIGN_TEMP_AGE_S
        else:
            orphan = _UNNAMED_TEMP_NAME.match(entry.name) is not None and (exclusive or age > UNNAMED_TEMP_AGE_S)
        if orphan:
            Path(entry.path).unlink(missing_ok=True)
            removed.append(Path(entry.path))
    return removed
