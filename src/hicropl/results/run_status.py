"""Where a run folder stands: finished, running, interrupted, failed, or unknown, and since when.

A run being trained records its state in ``run_state.json`` (:class:`~hicropl.results.run_folder.RunState`).
Where that file is absent or unreadable (folders written before it existed), the folder's files
decide: ``result.json`` means finished, a ``checkpoint.pt`` without one means interrupted. A
``running`` state whose process is gone from this host is reported as ``interrupted (stale)``: the
process died without saying so.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from hicropl.atomic import host_name, pid_is_alive
from hicropl.results.run_folder import STATE, RunFolder, read_run_state

FINISHED = "finished"
RUNNING = "running"
INTERRUPTED = "interrupted"
STALE = "interrupted (stale)"
FAILED = "failed"
UNKNOWN = "unknown"
# Files only a run folder holds: a folder with one of them is a run, finished or not.
RUN_MARKERS = (STATE, "result.json", "checkpoint.pt", "metrics.jsonl", "config.yaml")


@dataclass(frozen=True)
class RunStatus:
    state: str
    detail: str = ""  # the error, the signal, or where a running process lives
    updated: _dt.datetime | None = None  # when the state was last recorded (UTC)

    def describe(self) -> str:
        return f"{self.state}: {self.detail}" if self.detail else self.state


def _time(text: str) -> _dt.datetime | None:
    try:
        moment = _dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=_dt.timezone.utc)


def _modified(folder: RunFolder) -> _dt.datetime | None:
    times = [p.stat().st_mtime for p in (folder.state, folder.result, folder.checkpoint) if p.is_file()]
    if not times:
        return None
    return _dt.datetime.fromtimestamp(max(times), _dt.timezone.utc)


def run_status(path: str | Path, host: str | None = None, alive: Callable[[int], bool] = pid_is_alive) -> RunStatus:
    """The state of the run folder at ``path``; ``host`` (default: this machine) decides whose pids can be checked."""
    folder = RunFolder.at(path)
    state = read_run_state(folder.path)
    updated = (_time(state.updated) if state else None) or _modified(folder)
    if folder.is_finished():
        return RunStatus(FINISHED, "", updated)
    if state is not None and state.state == RUNNING:
        here = host if host is not None else host_name()
        if state.host == here and not alive(state.pid):
            return RunStatus(STALE, f"process {state.pid} on {state.host} is gone", updated)
        return RunStatus(RUNNING, f"pid {state.pid} on {state.host}", updated)
    if state is not None and state.state == INTERRUPTED:
        return RunStatus(INTERRUPTED, f"signal {state.signal}" if state.signal else "", updated)
    if state is not None and state.state == FAILED:
        return RunStatus(FAILED, state.error or "", updated)
    if state is not None and state.state == FINISHED:  # the state says so but result.json is gone
        return RunStatus(UNKNOWN, "run_state.json says finished but result.json is missing", updated)
    if folder.has_checkpoint():
        return RunStatus(INTERRUPTED, "checkpoint.pt without result.json", updated)
    return RunStatus(UNKNOWN, "no result.json, checkpoint.pt or run_state.json", updated)


def is_run_folder(path: Path) -> bool:
    return any((path / name).is_file() for name in RUN_MARKERS)


def find_run_folders(root: Path) -> list[Path]:
    """``root`` if it is a run folder, else every run folder under it, in path order."""
    if is_run_folder(root):
        return [root]
    return sorted({p.parent for marker in RUN_MARKERS for p in root.rglob(marker)})
