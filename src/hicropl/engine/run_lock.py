"""One process at a time per run folder: an exclusive lock on ``RUN/run.lock``.

The lock is ``flock`` on the lock file, and the file records the holder (pid, host, command, start
time) so that a refused process can name it. Why this design:

* ``flock`` is released by the kernel when its holder dies, however it dies (SIGKILL, OOM), so a
  crashed run never leaves the folder locked; the record it leaves behind is only reported ("took
  over the lock left by pid N on HOST") when the next run takes the lock.
* On Linux NFS clients ``flock`` is carried out as a POSIX lock on the server (NLM, or NFSv4's own
  locks), so it excludes processes on other machines too; a machine that crashed loses its locks
  when its lease expires (NFSv4: about 90 s). Unlike ``fcntl``/``lockf`` locks, ``flock`` belongs to
  the open file, not the process, so closing some other descriptor of the file cannot drop it.
* The lock file is deleted on release (while still locked); a process that opened the old file just
  before checks after locking that the path still names the file it locked, and retries otherwise.
* Where the file system has no locks at all (some FUSE mounts, Lustre without ``-o flock``: the call
  fails with ENOLCK, EOPNOTSUPP or ENOSYS) the lock falls back to creating the file exclusively. A
  leftover file is then taken over only when it names a dead process on this host; one from another
  host is reported with the command that removes it.

Under DDP only rank 0 writes the run folder, so only rank 0 locks; every rank learns whether it
succeeded (one all-reduce), so that the others raise the same error instead of waiting forever.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import errno
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import torch

from hicropl.atomic import host_name, pid_is_alive
from hicropl.engine.distributed import DistInfo, broadcast_flag
from hicropl.errors import HicroplError
from hicropl.results.run_folder import RunFolder

try:
    import fcntl
except ImportError:  # Windows: exclusive creation only
    fcntl = None  # type: ignore[assignment]

_NO_LOCKS = {errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS, errno.EINVAL}


class RunFolderBusy(HicroplError):
    """Another process holds the run folder's lock."""


@dataclass(frozen=True)
class Holder:
    pid: int
    host: str
    command: str
    started: str

    @classmethod
    def me(cls, command: str) -> Holder:
        started = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
        return cls(os.getpid(), host_name(), command, started)

    def describe(self) -> str:
        return f"pid {self.pid} on {self.host} (hicropl {self.command}, since {self.started})"


def read_holder(lock_file: Path) -> Holder | None:
    try:
        data = json.loads(lock_file.read_text("utf-8"))
        return Holder(int(data["pid"]), str(data["host"]), str(data["command"]), str(data["started"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _record(holder: Holder) -> bytes:
    return (json.dumps(holder.__dict__) + "\n").encode("utf-8")


def _busy(folder: RunFolder, holder: Holder | None, fix: str = "") -> RunFolderBusy:
    who = holder.describe() if holder is not None else "another process (its lock file names none yet)"
    return RunFolderBusy(
        f"The run folder {folder.path} is in use by {who}; wait for it to end or choose another --output.{fix}"
    )


class RunLock:
    """The held lock; ``release()`` removes the lock file and unlocks."""

    def __init__(self, folder: RunFolder, fd: int | None, took_over: Holder | None = None) -> None:
        self.folder = folder
        self.fd = fd
        self.took_over = took_over  # the holder of a stale lock this one replaced

    def release(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.folder.lock.unlink()
        if self.fd is not None:
            os.close(self.fd)  # closing the descriptor releases the flock
            self.fd = None


def acquire(folder: RunFolder, command: str) -> RunLock:
    """Lock ``folder`` (creating it) for this process, or raise :class:`RunFolderBusy` naming the holder."""
    folder.path.mkdir(parents=True, exist_ok=True)
    me = Holder.me(command)
    if fcntl is not None:
        lock = _acquire_flock(folder, me)
        if lock is not None:
            return lock
    return _acquire_exclusive_file(folder, me)


def _acquire_flock(folder: RunFolder, me: Holder) -> RunLock | None:
    """The flock way; None when the file system has no locks."""
    assert fcntl is not None
    while True:
        fd = os.open(folder.lock, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise _busy(folder, read_holder(folder.lock)) from None
        except OSError as exc:
            os.close(fd)
            if exc.errno in _NO_LOCKS:
                return None
            raise
        try:
            same_file = os.stat(folder.lock).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            same_file = False
        if not same_file:  # its holder released it and deleted the file meanwhile: lock the new one
            os.close(fd)
            continue
        previous = read_holder(folder.lock)  # a record left by a holder that died (it released nothing)
        os.ftruncate(fd, 0)
        os.pwrite(fd, _record(me), 0)
        os.fsync(fd)
        return RunLock(folder, fd, previous)


def _acquire_exclusive_file(folder: RunFolder, me: Holder) -> RunLock:
    took_over = None
    while True:
        try:
            fd = os.open(folder.lock, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        except FileExistsError:
            holder = read_holder(folder.lock)
            if holder is None or holder.host != me.host:
                raise _busy(folder, holder, f" If that process is gone, delete {folder.lock} and rerun.") from None
            if pid_is_alive(holder.pid):
                raise _busy(folder, holder) from None
            # A dead holder on this host: rename its file away (one taker wins), then retry.
            stale = folder.lock.with_name(f"{folder.lock.name}.stale-{me.pid}")
            try:
                os.rename(folder.lock, stale)
            except FileNotFoundError:
                continue
            stale.unlink(missing_ok=True)
            took_over = holder
            continue
        try:
            os.write(fd, _record(me))
            os.fsync(fd)
        finally:
            os.close(fd)
        return RunLock(folder, None, took_over)


@contextlib.contextmanager
def run_folder_lock(folder: RunFolder, command: str, dist: DistInfo | None = None) -> Iterator[RunLock | None]:
    """Hold ``folder``'s lock for the block (yields it; None on ranks other than 0). Under DDP rank 0
    locks and every rank raises if it failed."""
    dist = dist or DistInfo()
    lock: RunLock | None = None
    failure: Exception | None = None
    if dist.is_main:
        try:
            lock = acquire(folder, command)
        except (HicroplError, OSError) as exc:
            failure = exc
    if broadcast_flag(failure is not None, dist, _flag_device(dist)):
        if failure is not None:
            raise failure
        raise RunFolderBusy(f"The main process could not lock the run folder {folder.path} (see its message).")
    try:
        yield lock
    finally:
        if lock is not None:
            lock.release()


def _flag_device(dist: DistInfo) -> torch.device:
    if dist.enabled and torch.distributed.get_backend() == "nccl":
        return torch.device("cuda", dist.local_rank)
    return torch.device("cpu")
