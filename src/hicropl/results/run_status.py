"""Where a run folder stands: finished, running, interrupted, failed, or unknown, and since when.

A run being trained records its state in ``run_state.json`` (``state``, ``pid``, ``host``, ``updated``,
``command``, ``signal``, ``error``). This reader tolerates that file being absent, partial or from a
newer version, and falls back for folders written before it existed: ``result.json`` means finished,
a ``checkpoint.pt`` without one means interrupted. A ``running`` state whose process is gone from
this host is reported as ``interrupted (stale)``: the process died without saying so.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import socket
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hicropl.results.run_folder import RunFolder

STATE_FILE = "run_state.json"
FINISHED = "finished"
RUNNING = "running"
INTERRUPTED = "interrupted"
STALE = "interrupted (stale)"
FAILED = "failed"
UNKNOWN = "unknown"
# Files only a run folder holds: a folder with one of them is a run, finished or not.
RUN_MARKERS = (STATE_FILE, "result.json", "checkpoint.pt", "metrics.jsonl", "config.yaml")


@dataclass(frozen=True)
class RunStatus:
    state: str
    detail: str = ""  # the error, the signal, or where a running process lives
    updated: _dt.datetime | None = None  # when the state was last recorded (UTC)

    def describe(self) -> str:
        return f"{self.state}: {self.detail}" if self.detail else self.state


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    except OSError:
        return False
    return True


def _read_state(path: Path) -> Mapping[str, Any]:
    try:
        data = json.loads(path.read_text("utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, Mapping) else {}


def _time(text: Any) -> _dt.datetime | None:
    if not isinstance(text, str) or not text:
        return None
    try:
        moment = _dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=_dt.timezone.utc)


def _modified(folder: RunFolder) -> _dt.datetime | None:
    times = [p.stat().st_mtime for p in (folder.path / STATE_FILE, folder.result, folder.checkpoint) if p.is_file()]
    if not times:
        return None
    return _dt.datetime.fromtimestamp(max(times), _dt.timezone.utc)


def run_status(path: str | Path, host: str | None = None, alive: Callable[[int], bool] = pid_alive) -> RunStatus:
    """The state of the run folder at ``path``; ``host`` (default: this machine) decides whose pids can be checked."""
    folder = RunFolder.at(path)
    state = _read_state(folder.path / STATE_FILE)
    updated = _time(state.get("updated")) or _modified(folder)
    if folder.is_finished():
        return RunStatus(FINISHED, "", updated)
    recorded = state.get("state")
    if recorded == RUNNING:
        pid, where = state.get("pid"), state.get("host")
        here = host if host is not None else socket.gethostname()
        if where == here and isinstance(pid, int) and not alive(pid):
            return RunStatus(STALE, f"process {pid} on {where} is gone", updated)
        return RunStatus(RUNNING, f"pid {pid} on {where}" if where else "", updated)
    if recorded == INTERRUPTED:
        return RunStatus(INTERRUPTED, f"signal {state['signal']}" if state.get("signal") else "", updated)
    if recorded == FAILED:
        return RunStatus(FAILED, str(state.get("error") or ""), updated)
    if recorded == FINISHED:  # the state says so but result.json is gone
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
