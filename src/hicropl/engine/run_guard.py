"""What every command that writes a run folder (train, eval, import) does around its work.

* Takes the folder's lock (:mod:`hicropl.engine.run_lock`) for the whole write.
* Removes temp files that killed writes left in the folder (under the lock no other writer is live).
* Once the caller has checked the folder (:meth:`FolderGuard.start`; a command refused before that,
  say on a finished run without ``--overwrite``, leaves the folder untouched):
  ``--overwrite`` moves the old run's files aside to ``RUN.replaced-<stamp>`` and deletes them only
  when the caller says the new run has started (:meth:`FolderGuard.commit`: config validated, device
  resolved, data found, model built); a failure before that puts the old run back as it was. A
  process killed in between leaves the old run in ``RUN.replaced-<stamp>``; the next run there says so.
* Keeps ``run_state.json`` (:class:`hicropl.results.run_folder.RunState`): ``running`` from
  :meth:`FolderGuard.start`, then ``interrupted``, ``failed`` or ``finished``.

Under DDP only rank 0 writes the folder; the other ranks only wait where rank 0 moves files.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import logging
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

from hicropl.atomic import remove_orphan_temps
from hicropl.engine.distributed import DistInfo, barrier
from hicropl.engine.run_lock import run_folder_lock
from hicropl.engine.stop_signals import SignalInterrupt
from hicropl.errors import HicroplError, TrainingInterrupted
from hicropl.results.run_folder import Command, RunFolder, RunState, write_run_state

log = logging.getLogger("hicropl.run")

REPLACED = ".replaced-"


class FolderGuard:
    def __init__(self, folder: RunFolder, command: Command, dist: DistInfo) -> None:
        self.folder = folder
        self.command = command
        self.dist = dist
        self.notes: list[str] = []  # for the run's log, once it is open
        self.replaced: Path | None = None  # the old run, while --overwrite has not committed
        self.started = False
        self.restored = False

    def start(self, overwrite: bool = False) -> None:
        """The checks passed and the command starts writing: ``running`` (after moving the old run aside)."""
        if overwrite:
            self.move_old_run_aside()
        self.started = True
        self.write_state(RunState.now("running", self.command))

    def move_old_run_aside(self) -> None:
        """``--overwrite``: the old run's files go to ``RUN.replaced-<stamp>`` until :meth:`commit`."""
        if self.dist.is_main:
            present = [path for path in self.folder.run_files() if path.exists() or path.is_symlink()]
            if present:
                stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
                aside = self.folder.path.with_name(f"{self.folder.path.name}{REPLACED}{stamp}-{os.getpid()}")
                aside.mkdir()
                for path in present:
                    os.replace(path, aside / path.name)
                self.replaced = aside
        barrier(self.dist)

    def commit(self) -> None:
        """The new run has started: delete the run it replaces."""
        if self.replaced is not None:
            shutil.rmtree(self.replaced, ignore_errors=True)
            log.info("Deleted the run this one replaces (--overwrite), kept in %s until now.", self.replaced)
            self.replaced = None

    def restore(self) -> None:
        """Put the replaced run back (the new one failed before it started)."""
        if self.replaced is None:
            return
        for path in self.folder.run_files():
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            else:
                path.unlink(missing_ok=True)
        for path in self.replaced.iterdir():
            os.replace(path, self.folder.path / path.name)
        self.replaced.rmdir()
        self.replaced = None
        self.restored = True

    def write_state(self, state: RunState) -> None:
        if not self.dist.is_main or not self.started or self.restored:
            return
        if state.state == "running":
            write_run_state(self.folder.path, state)
            return
        try:  # how a run ended must not hide why (a full disk fails this write too)
            write_run_state(self.folder.path, state)
        except OSError:
            log.debug("Could not write %s", self.folder.state, exc_info=True)


def one_line(exc: BaseException) -> str:
    text = str(exc) if isinstance(exc, HicroplError) else f"{type(exc).__name__}: {exc}"
    return " ".join(text.split())


@contextlib.contextmanager
def guarded_folder(folder: RunFolder, command: Command, dist: DistInfo | None = None) -> Iterator[FolderGuard]:
    """Lock ``folder`` and keep its run state for the block (see the module's docstring)."""
    dist = dist or DistInfo()
    guard = FolderGuard(folder, command, dist)
    with run_folder_lock(folder, command, dist) as lock:
        if dist.is_main:
            if lock is not None and lock.took_over is not None:
                guard.notes.append(
                    f"Took over the lock of {folder.path} left by {lock.took_over.describe()}, which ended without "
                    "releasing it."
                )
            for orphan in remove_orphan_temps(folder.path, exclusive=True) + remove_orphan_temps(
                folder.evals, exclusive=True
            ):
                guard.notes.append(f"Removed {orphan.name}, left by a write that was killed.")
            for leftover in sorted(folder.path.parent.glob(f"{folder.path.name}{REPLACED}*")):
                guard.notes.append(
                    f"{leftover} holds a run that an interrupted --overwrite replaced; delete it if you do not need it."
                )
        try:
            yield guard
        except TrainingInterrupted as exc:
            _restore(guard)
            guard.write_state(RunState.now("interrupted", command, signal=exc.signal_name))
            raise
        except SignalInterrupt as exc:
            _restore(guard)
            guard.write_state(RunState.now("interrupted", command, signal=exc.signal_name))
            raise
        except KeyboardInterrupt:
            _restore(guard)
            guard.write_state(RunState.now("interrupted", command, signal="SIGINT"))
            raise
        except BaseException as exc:
            _restore(guard)
            guard.write_state(RunState.now("failed", command, error=one_line(exc)))
            raise
        if guard.started:
            guard.commit()
            guard.write_state(RunState.now("finished", command))


def _restore(guard: FolderGuard) -> None:
    if guard.dist.is_main:
        guard.restore()
