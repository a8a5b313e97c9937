"""The content of ``result.json`` and of ``evals/*.json``, and reading them back for reports.

Accuracies are percentages. ``evaluations`` maps an evaluation name to its numbers; evaluations
run later with ``hicropl eval`` are stored under ``evals/`` with the same fields; a run made by
``hicropl import`` has none until then (``imported_from`` names the authors' checkpoint), and reports
leave it out, saying why, while it has none. Evaluation names come
from :func:`evaluation_name`: ``EuroSAT (base)``/``EuroSAT (novel)`` in base-to-novel runs, the
dataset's name for all classes of its test split.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from hicropl.results.run_folder import RESULT, RunFolder, read_json
from hicropl.results.run_status import RunStatus, find_run_folders, run_status

SCHEMA_VERSION = 1


def harmonic_mean(base: float, novel: float) -> float:
    return 2 * base * novel / (base + novel) if base + novel > 0 else 0.0


def evaluation_name(dataset: str, subset: str, split: str) -> str:
    """``EuroSAT`` for all classes on test; otherwise e.g. ``EuroSAT (novel)`` or ``EuroSAT [val]``."""
    name = dataset if subset == "all" else f"{dataset} ({'novel' if subset in ('new', 'novel') else subset})"
    return name if split == "test" else f"{name} [{split}]"


def summarize(protocol: str, dataset: str, evaluations: Mapping[str, Mapping[str, Any]]) -> dict[str, float]:
    """The headline numbers of a run: Base/Novel/HM, or the accuracy per evaluated dataset."""
    acc = {name: float(entry["accuracy"]) for name, entry in evaluations.items()}
    base, novel = evaluation_name(dataset, "base", "test"), evaluation_name(dataset, "new", "test")
    if protocol == "base2novel" and base in acc and novel in acc:
        return {"base": acc[base], "novel": acc[novel], "hm": harmonic_mean(acc[base], acc[novel])}
    return acc


@dataclass
class RunRecord:
    """One finished run as the reports see it."""

    path: Path
    method: str
    variant: str | None
    dataset: str
    protocol: str
    shots: int
    seed: int
    scores: dict[str, float] = field(default_factory=dict)
    created: str = ""  # ISO time the run finished
    suffix: str = ""  # set by the tables to tell apart runs that differ only in shots
    run_label: str | None = None  # the run's own label (config ``label``), if it set one
    imported_from: str | None = None  # the authors' checkpoint file of an imported run (``hicropl import``)
    config: dict[str, Any] | None = None  # the run's config.yaml; None where it is missing or unreadable

    @property
    def label(self) -> str:
        name = self.run_label or (f"{self.method}-{self.variant}" if self.variant else self.method)
        return f"{name} {self.suffix}" if self.suffix else name


def read_scores(result: Mapping[str, Any], folder: RunFolder) -> dict[str, float]:
    """Accuracy per evaluation name: result.json's, then those ``hicropl eval`` added under evals/."""
    scores = {name: float(entry["accuracy"]) for name, entry in result.get("evaluations", {}).items()}
    if folder.evals.is_dir():
        for file in sorted(folder.evals.glob("*.json")):
            entry = read_json(file)
            scores[str(entry["name"])] = float(entry["accuracy"])
    return scores


def read_config(folder: RunFolder) -> dict[str, Any] | None:
    """The run's saved config.yaml as plain data, or None where it is missing or not a YAML mapping."""
    try:
        data = yaml.safe_load(folder.config.read_text("utf-8"))
    except (OSError, yaml.YAMLError):
        return None
    return data if isinstance(data, dict) else None


def read_run(path: Path) -> RunRecord:
    folder = RunFolder.at(path)
    result = read_json(folder.result)
    return RunRecord(
        path=folder.path,
        method=str(result["method"]),
        variant=result.get("variant"),
        dataset=str(result["dataset"]),
        protocol=str(result["protocol"]),
        shots=int(result["shots"]),
        seed=int(result["seed"]),
        scores=read_scores(result, folder),
        created=str(result.get("created") or ""),
        run_label=result.get("label") or None,
        imported_from=(result.get("imported_from") or {}).get("file"),
        config=read_config(folder),
    )


def unfinished_runs(base: Path) -> list[tuple[Path, RunStatus]]:
    """The run folders at or under ``base`` without a result.json, with where each stands."""
    return [(folder, run_status(folder)) for folder in find_run_folders(base) if not (folder / RESULT).is_file()]


def find_runs(roots: Iterable[str | Path]) -> tuple[list[RunRecord], list[str]]:
    """Every finished run under ``roots`` (folders holding result.json), plus one line per run left
    out: unreadable, unfinished (running, interrupted, failed) or imported and not evaluated yet."""
    runs: list[RunRecord] = []
    problems: list[str] = []
    for root in roots:
        base = Path(root).expanduser()
        if not base.exists():
            problems.append(f"{base}: no such folder")
            continue
        for folder, status in unfinished_runs(base):
            problems.append(f"{folder}: not finished ({status.describe()})")
        files = [base / RESULT] if (base / RESULT).is_file() else sorted(base.rglob(RESULT))
        for file in files:
            try:
                run = read_run(file.parent)
            except (OSError, KeyError, ValueError, TypeError, json.JSONDecodeError) as exc:
                problems.append(f"{file}: unreadable ({type(exc).__name__}: {exc})")
                continue
            if run.imported_from and not run.scores:
                problems.append(
                    f"{run.path}: imported from {run.imported_from} and not evaluated yet, so not in the tables; "
                    f"run `hicropl eval {run.path}` (with --subset base and --subset novel for base2novel)"
                )
                continue
            runs.append(run)
    return runs, problems


def mean_std(values: Iterable[float]) -> tuple[float, float, int]:
    """Mean and sample standard deviation (0 for a single value), and the count."""
    data = [float(v) for v in values]
    if not data:
        return math.nan, math.nan, 0
    mean = sum(data) / len(data)
    if len(data) == 1:
        return mean, 0.0, 1
    var = sum((v - mean) ** 2 for v in data) / (len(data) - 1)
    return mean, math.sqrt(var), len(data)
