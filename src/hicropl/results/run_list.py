"""``hicropl runs``: one line per run folder under a root, finished or not.

Each line gives what the run is (protocol, method, dataset, shots, seed, from result.json or, for a
run that has not finished, its config.yaml), where it stands (:mod:`hicropl.results.run_status`), its
headline number (HM for base-to-novel, else the accuracy on its dataset; the last epoch while it
trains) and how long ago its state last changed.
"""

from __future__ import annotations

import datetime as _dt
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hicropl.results.record import read_config, read_scores, summarize
from hicropl.results.run_folder import RunFolder, read_json
from hicropl.results.run_status import RunStatus, find_run_folders, run_status

COLUMNS = ("protocol", "method", "dataset", "shots", "seed", "status", "headline", "age", "folder")


@dataclass(frozen=True)
class RunEntry:
    path: Path
    protocol: str
    method: str
    dataset: str
    shots: str
    seed: str
    status: RunStatus
    headline: str

    def age(self, now: _dt.datetime) -> str:
        if self.status.updated is None:
            return "?"
        return format_age((now - self.status.updated).total_seconds())


def format_age(seconds: float) -> str:
    """``42s``, ``7m``, ``5h``, ``3d``: the largest whole unit."""
    seconds = max(seconds, 0.0)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{int(seconds // size)}{unit}"
    return f"{int(seconds)}s"


def method_name(method: str, variant: Any, label: Any) -> str:
    """How the reports name a run's method: its label, else ``method[-variant]``."""
    if label:
        return str(label)
    return f"{method}-{variant}" if variant else method


def headline(result: Mapping[str, Any], scores: Mapping[str, float]) -> str:
    """The run's main number from its ``scores`` (:func:`~hicropl.results.record.read_scores`):
    ``HM 78.31`` (base-to-novel) or ``acc 72.05`` (its own dataset)."""
    dataset = str(result.get("dataset"))
    evaluations = {name: {"accuracy": value} for name, value in scores.items()}
    summary = summarize(str(result.get("protocol")), dataset, evaluations)
    if "hm" in summary:
        return f"HM {float(summary['hm']):.2f}"
    if dataset in summary:
        return f"acc {float(summary[dataset]):.2f}"
    return "not evaluated" if result.get("imported_from") and not scores else "—"


def _last_epoch(folder: RunFolder) -> str:
    try:
        lines = folder.metrics.read_text("utf-8").splitlines()
        last = json.loads(next(line for line in reversed(lines) if line.strip()))
    except (OSError, StopIteration, ValueError):
        return "—"
    return f"epoch {last['epoch']}" if isinstance(last, dict) and "epoch" in last else "—"


def _section(config: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    value = config.get(name)
    return value if isinstance(value, Mapping) else {}


def read_entry(path: Path) -> RunEntry:
    folder = RunFolder.at(path)
    status = run_status(folder.path)
    result: dict[str, Any] = {}
    scores: dict[str, float] = {}
    if folder.is_finished():
        try:
            loaded = read_json(folder.result)
            result = loaded if isinstance(loaded, dict) else {}
            scores = read_scores(result, folder)
        except (OSError, ValueError, KeyError, TypeError):
            result = {}
            status = RunStatus("unreadable", "result.json or evals/ cannot be read", status.updated)
    if result:
        return RunEntry(
            folder.path,
            str(result.get("protocol", "?")),
            method_name(str(result.get("method", "?")), result.get("variant"), result.get("label")),
            str(result.get("dataset", "?")),
            str(result.get("shots", "?")),
            str(result.get("seed", "?")),
            status,
            headline(result, scores),
        )
    config = read_config(folder) or {}
    method = _section(config, "method")
    data = _section(config, "data")
    return RunEntry(
        folder.path,
        str(data.get("protocol", "?")),
        method_name(str(method.get("name", "?")), method.get("variant"), config.get("label")),
        str(data.get("dataset", "?")),
        str(data.get("shots", "?")),
        str(config.get("seed", "?")),
        status,
        _last_epoch(folder),
    )


def list_runs(root: str | Path) -> list[RunEntry]:
    return [read_entry(path) for path in find_run_folders(Path(root).expanduser())]


def format_runs(entries: Sequence[RunEntry], root: Path, now: _dt.datetime | None = None) -> str:
    """An aligned table, one line per run; folders relative to ``root`` where they lie under it."""
    now = now or _dt.datetime.now(_dt.timezone.utc)
    lines = [list(COLUMNS)]
    for entry in entries:
        try:
            where = str(entry.path.relative_to(root)) or "."
        except ValueError:
            where = str(entry.path)
        fields = (entry.protocol, entry.method, entry.dataset, entry.shots, entry.seed, entry.status.state)
        lines.append([*fields, entry.headline, entry.age(now), where])
    widths = [max(len(line[i]) for line in lines) for i in range(len(COLUMNS) - 1)]
    return "\n".join(
        "  ".join([*(text.ljust(width) for text, width in zip(line, widths, strict=False)), line[-1]]).rstrip()
        for line in lines
    )
