"""Writing run folders as ``hicropl train`` leaves them (result.json, config.yaml), with chosen numbers."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from hicropl.results.record import evaluation_name


def write_run(
    folder: Path,
    method: str,
    dataset: str,
    protocol: str,
    seed: int,
    scores: dict[str, float],
    shots: int = 16,
    variant: str | None = None,
    label: str | None = None,
    method_options: dict[str, Any] | None = None,
    created: str = "2025-01-01T00:00:00+00:00",
) -> Path:
    """A finished run in ``folder``; its config.yaml holds the method options and the run's keys."""
    folder.mkdir(parents=True)
    result = {
        "method": method,
        "variant": variant,
        "label": label,
        "dataset": dataset,
        "protocol": protocol,
        "shots": shots,
        "seed": seed,
        "summary": {},
        "evaluations": {name: {"name": name, "accuracy": value} for name, value in scores.items()},
        "created": created,
    }
    (folder / "result.json").write_text(json.dumps(result))
    config = {
        "method": {"name": method, **(method_options or {})},
        "data": {"dataset": dataset, "protocol": protocol, "shots": shots, "root": str(folder)},
        "train": {"epochs": 5, "num_workers": 0},
        "seed": seed,
        "label": label or "",
    }
    (folder / "config.yaml").write_text(yaml.safe_dump(config))
    return folder


def b2n_scores(dataset: str, base: float, novel: float) -> dict[str, float]:
    return {evaluation_name(dataset, "base", "test"): base, evaluation_name(dataset, "new", "test"): novel}
