"""``hicropl show RUN``: one run folder summarised for a person.

What the run is and where it stands, the settings in which its config.yaml differs from the
method's defaults (what makes this run this run), its numbers, where its checkpoint is, and the
command that runs it again. It lives in the engine because the defaults come from the typed configs.
"""

from __future__ import annotations

import datetime as _dt
import shlex
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from hicropl.engine.run_config import RunConfig, run_config_to_dict
from hicropl.errors import HicroplError
from hicropl.methods.base import get_method_class
from hicropl.results.record import read_config
from hicropl.results.run_folder import RunFolder, read_json
from hicropl.results.run_identity import flatten
from hicropl.results.run_list import read_entry
from hicropl.results.run_status import FINISHED, find_run_folders


def default_settings(method: str) -> dict[str, Any]:
    """The flattened config of ``method`` with every field at its default."""
    cls = get_method_class(method)
    return flatten(run_config_to_dict(RunConfig(method_name=cls.name, method=cls.config_class())))


def differences_from_defaults(config: Mapping[str, Any]) -> list[tuple[str, Any, Any]]:
    """(field, this run's value, the default) for every field the run sets otherwise; fields the
    defaults lack have the default ``None``. Raises HicroplError for an unknown method."""
    method = config.get("method")
    name = method.get("name") if isinstance(method, Mapping) else method
    defaults = default_settings(str(name))
    saved = flatten(config)
    return [(key, value, defaults.get(key)) for key, value in saved.items() if defaults.get(key, object()) != value]


def _size(path: Path) -> str:
    size = float(path.stat().st_size)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GB"


def _value(value: Any) -> str:
    return "unset" if value is None else str(value)


def _metrics(result: Mapping[str, Any], folder: RunFolder) -> list[str]:
    lines = []
    summary = result.get("summary") or {}
    if summary:
        lines.append("  summary: " + ", ".join(f"{k} {float(v):.2f}" for k, v in summary.items()))
    for name, entry in (result.get("evaluations") or {}).items():
        lines.append(f"  {name}: {float(entry['accuracy']):.2f}")
    if folder.evals.is_dir():
        for file in sorted(folder.evals.glob("*.json")):
            entry = read_json(file)
            lines.append(f"  {entry['name']}: {float(entry['accuracy']):.2f} (hicropl eval, {file.name})")
    selection = result.get("selection") or {}
    if selection.get("epoch") is not None:
        lines.append(f"  selected: epoch {selection['epoch']} ({selection.get('mode')})")
    return lines or ["  none yet"]


def reproduce_command(folder: RunFolder, result: Mapping[str, Any]) -> str:
    """The command that makes this run again, into a new folder beside it."""
    imported = result.get("imported_from") or {}
    again = shlex.quote(str(folder.path) + "-again")
    config = shlex.quote(str(folder.config))
    if imported.get("file"):
        return f"hicropl import {shlex.quote(str(imported['file']))} --config {config} --output {again}"
    return f"hicropl train --config {config} --output {again}"


def describe_run(path: str | Path, now: _dt.datetime | None = None) -> str:
    """The text ``hicropl show`` prints for the run folder at ``path``."""
    folder = RunFolder.at(path)
    if not folder.path.is_dir() or find_run_folders(folder.path) != [folder.path]:
        raise HicroplError(f"{folder.path} is not a run folder (no result.json, config.yaml or checkpoint.pt there).")
    entry = read_entry(folder.path)
    now = now or _dt.datetime.now(_dt.timezone.utc)
    status = entry.status.describe()
    lines = [
        f"Run {folder.path}",
        f"  {entry.protocol}, {entry.method}, {entry.dataset}, {entry.shots} shots, seed {entry.seed}",
        f"  status: {status} (updated {entry.age(now)} ago)",
    ]
    result: dict[str, Any] = read_json(folder.result) if entry.status.state == FINISHED else {}
    config = read_config(folder)
    lines.append("Settings that differ from the method's defaults:")
    if config is None:
        lines.append("  unknown: no readable config.yaml")
    else:
        try:
            changed = differences_from_defaults(config)
        except HicroplError as exc:
            lines.append(f"  cannot tell: {exc}")
        else:
            shown = [f"  {key}: {_value(value)} (default {_value(default)})" for key, value, default in changed]
            lines += shown or ["  none"]
    lines.append("Metrics:")
    lines += _metrics(result, folder)
    checkpoint = f"{folder.checkpoint} ({_size(folder.checkpoint)})" if folder.has_checkpoint() else "none"
    lines.append(f"Checkpoint: {checkpoint}")
    lines.append("Reproduce:")
    lines.append(f"  {reproduce_command(folder, result)}")
    return "\n".join(lines) + "\n"
