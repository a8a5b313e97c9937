"""A run is a folder: the names of its files and the questions asked about it.

``run_state.json`` says what the process doing the run is at (:class:`RunState`); ``run.lock`` is held
by that process (``engine.run_lock``); ``checkpoint.pt.sha256`` is the checkpoint's checksum.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal, cast

from hicropl.atomic import atomic_write_text, disk_full_error, host_name, is_disk_full
from hicropl.checksums import sidecar_of

CONFIG = "config.yaml"
METRICS = "metrics.jsonl"
RESULT = "result.json"
CHECKPOINT = "checkpoint.pt"
LOG = "log.txt"
EVALS = "evals"
TENSORBOARD = "tb"
STATE = "run_state.json"
LOCK = "run.lock"

State = Literal["running", "interrupted", "failed", "finished"]
Command = Literal["train", "eval", "import"]
STATES = ("running", "interrupted", "failed", "finished")


@dataclass(frozen=True)
class RunState:
    """``run_state.json``: what the process that last worked on the run folder was doing, and how it ended.

    ``running`` from when it took the folder's lock; ``interrupted`` after Ctrl-C, SIGTERM or SIGUSR1
    (``signal`` names it); ``failed`` after any other error (``error``: the one line the console showed);
    ``finished`` once result.json (or, for ``eval``, its record) was written. A ``running`` state whose
    process is gone was killed (SIGKILL, a crash, a lost machine).
    """

    state: State
    pid: int
    host: str
    updated: str  # ISO-8601 UTC
    command: Command
    signal: str | None = None
    error: str | None = None

    @classmethod
    def now(cls, state: State, command: Command, signal: str | None = None, error: str | None = None) -> RunState:
        updated = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
        return cls(state, os.getpid(), host_name(), updated, command, signal, error)


def write_run_state(folder: Path, state: RunState) -> None:
    atomic_write_text(folder / STATE, json.dumps(asdict(state), indent=2) + "\n")


def read_run_state(folder: Path) -> RunState | None:
    """The folder's run state, or None when it has none (or an unreadable one)."""
    try:
        data = json.loads((folder / STATE).read_text("utf-8"))
        state = RunState(
            state=data["state"],
            pid=int(data["pid"]),
            host=str(data["host"]),
            updated=str(data["updated"]),
            command=data["command"],
            signal=data.get("signal"),
            error=data.get("error"),
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if state.state not in STATES:
        return None
    return state


@dataclass(frozen=True)
class RunFolder:
    path: Path

    @classmethod
    def at(cls, path: str | Path) -> RunFolder:
        return cls(Path(path).expanduser())

    @property
    def config(self) -> Path:
        return self.path / CONFIG

    @property
    def metrics(self) -> Path:
        return self.path / METRICS

    @property
    def result(self) -> Path:
        return self.path / RESULT

    @property
    def checkpoint(self) -> Path:
        return self.path / CHECKPOINT

    @property
    def log(self) -> Path:
        return self.path / LOG

    @property
    def evals(self) -> Path:
        return self.path / EVALS

    @property
    def tensorboard(self) -> Path:
        return self.path / TENSORBOARD

    @property
    def state(self) -> Path:
        return self.path / STATE

    @property
    def lock(self) -> Path:
        return self.path / LOCK

    def run_files(self) -> list[Path]:
        """What a run writes into its folder (and nothing else the user may have put there)."""
        return [
            self.config,
            self.metrics,
            self.result,
            self.checkpoint,
            sidecar_of(self.checkpoint),
            self.log,
            self.state,
            self.evals,
            self.tensorboard,
        ]

    def is_finished(self) -> bool:
        return self.result.is_file()

    def has_checkpoint(self) -> bool:
        return self.checkpoint.is_file()

    def clear(self) -> None:
        """Delete the files a run writes (and nothing else the user may have put there)."""
        for path in self.run_files():
            if path.is_dir() and not path.is_symlink():
                for child in sorted(path.rglob("*"), reverse=True):
                    child.unlink() if child.is_file() or child.is_symlink() else child.rmdir()
                path.rmdir()
            else:
                path.unlink(missing_ok=True)

    def read_metrics(self) -> list[dict[str, Any]]:
        """The per-epoch records; a torn last line (a write cut off by a kill) is left out."""
        if not self.metrics.is_file():
            return []
        return [cast(dict[str, Any], json.loads(line)) for line in self._complete_metric_lines()]

    def _complete_metric_lines(self) -> list[str]:
        lines = self.metrics.read_text("utf-8").splitlines(keepends=True)
        if lines and not _is_record(lines[-1]):
            lines.pop()
        return [line for line in lines if line.strip()]

    def repair_metrics(self) -> str | None:
        """Drop a torn last line of metrics.jsonl; returns the dropped text, or None when it was whole."""
        if not self.metrics.is_file():
            return None
        text = self.metrics.read_text("utf-8")
        kept = "".join(self._complete_metric_lines())
        if kept == text:
            return None
        atomic_write_text(self.metrics, kept)
        return text[len(kept) :] if text.startswith(kept) else text

    def append_metrics(self, record: dict[str, Any]) -> None:
        try:
            with open(self.metrics, "a", encoding="utf-8") as handle:
                handle.write(json.dumps(record, sort_keys=False) + "\n")
                handle.flush()
        except OSError as exc:
            if is_disk_full(exc):
                raise disk_full_error(self.metrics, exc, "its earlier lines are intact") from exc
            raise

    def keep_metrics_through(self, epochs_done: int) -> None:
        """Keep the lines of the first ``epochs_done`` epochs (a resumed run rewrites later ones)."""
        kept = [r for r in self.read_metrics() if int(r.get("epoch", 0)) <= epochs_done]
        atomic_write_text(self.metrics, "".join(json.dumps(r) + "\n" for r in kept))


def _is_record(line: str) -> bool:
    if not line.endswith("\n"):
        return False
    try:
        return isinstance(json.loads(line), dict)
    except ValueError:
        return False


def write_json_atomic(path: Path, data: Any) -> None:
    """JSON as run folders hold it (indented, one trailing newline), written atomically."""
    atomic_write_text(path, json.dumps(data, indent=2, sort_keys=False) + "\n")


def read_json(path: Path) -> Any:
    return json.loads(path.read_text("utf-8"))
