"""Which runs are the same experiment, and how a table names the rows of experiments that differ.

Runs that differ in anything but the seed (a zero-shot prompt source, a method option, a label) are
different experiments and get different rows. A run's *settings* are its saved ``config.yaml``,
flattened to dotted keys, less the fields that cannot change its numbers (where the data lives,
worker counts, caching, compilation: the engine lets a run resume with them changed) and the fields
the table already keys on (dataset, protocol, shots, seed).

Rows are named by their label (or ``method[-variant]``), plus the settings that tell apart runs of
the same name on the same dataset and shots, e.g. ``zeroshot (prompts=ensemble)``. A setting that
varies only *between* datasets (per-dataset recipes) does not split a row.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from hicropl.results.record import RunRecord

# Config fields that do not change a run's numbers, or that the tables key on separately.
NEUTRAL_FIELDS = frozenset(
    {
        "seed",
        "label",
        "clip",  # a weights path differs between machines for the same weights
        "method.name",
        "data.dataset",
        "data.protocol",
        "data.shots",
        "data.root",
        "data.targets",
        "train.num_workers",
        "train.device",
        "train.tensorboard",
        "train.eval_batch_size",
        "train.feature_cache",
        "train.prefetch_factor",
        "train.gradient_checkpointing",
        "train.compile",
        "train.compile_backend",
        "train.tune_host_allocator",
    }
)
NO_CONFIG = "no config.yaml"
_LONGEST_VALUE = 40


def flatten(data: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"method": {"prompts": "dataset"}}`` -> ``{"method.prompts": "dataset"}``."""
    flat: dict[str, Any] = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten(value, f"{name}."))
        else:
            flat[name] = value
    return flat


def settings(run: RunRecord) -> dict[str, str] | None:
    """The run's result-relevant settings as ``{dotted field: JSON text}``; None without a config.yaml."""
    if run.config is None:
        return None
    return {
        key: json.dumps(value, sort_keys=True)
        for key, value in flatten(run.config).items()
        if key not in NEUTRAL_FIELDS
    }


def signature(run: RunRecord) -> tuple[tuple[str, str], ...] | None:
    """A hashable form of :func:`settings`: equal for runs of the same experiment."""
    found = settings(run)
    return None if found is None else tuple(sorted(found.items()))


def base_name(run: RunRecord) -> str:
    return run.run_label or (f"{run.method}-{run.variant}" if run.variant else run.method)


def _differing_fields(group: Sequence[RunRecord]) -> list[str]:
    """Fields whose value differs between runs of ``group`` that share a dataset and shots."""
    cells: dict[tuple[str, int], list[dict[str, str]]] = defaultdict(list)
    for run in group:
        found = settings(run)
        if found is not None:
            cells[(run.dataset, run.shots)].append(found)
    fields: set[str] = set()
    for found_settings in cells.values():
        for key in set().union(*found_settings):
            if len({s.get(key) for s in found_settings}) > 1:
                fields.add(key)
    return sorted(fields)


def _short_names(fields: Sequence[str]) -> dict[str, str]:
    """The last part of each dotted field, or the whole field where two would share a last part."""
    last = [f.rsplit(".", 1)[-1] for f in fields]
    return {f: (short if last.count(short) == 1 else f) for f, short in zip(fields, last, strict=True)}


def _shown(value_json: str | None) -> str:
    if value_json is None:
        return "unset"
    value = json.loads(value_json)
    text = value if isinstance(value, str) else json.dumps(value)
    return text if len(text) <= _LONGEST_VALUE else text[: _LONGEST_VALUE - 1] + "…"


def name_rows(runs: Iterable[RunRecord]) -> None:
    """Set each run's ``suffix`` so that runs of different experiments get different row names: the
    shots where one protocol's runs of a name use several (outside few-shot tables, which have a column
    per K), and the settings that differ between runs of one name on one dataset and K."""
    groups: dict[tuple[str, str], list[RunRecord]] = defaultdict(list)
    for run in runs:
        groups[(run.protocol, base_name(run))].append(run)
    for (protocol, _), group in groups.items():
        several_shots = protocol != "fewshot" and len({r.shots for r in group}) > 1
        fields = _differing_fields(group)
        short = _short_names(fields)
        for run in group:
            parts = [f"K={run.shots}"] if several_shots else []
            found = settings(run)
            if fields and found is None:
                parts.append(NO_CONFIG)
            elif found is not None:
                parts += [f"{short[f]}={_shown(found.get(f))}" for f in fields]
            run.suffix = f"({', '.join(parts)})" if parts else ""


def latest_per_seed(runs: Iterable[RunRecord], problems: list[str]) -> list[RunRecord]:
    """One run per experiment and seed: of runs with the same name, dataset, protocol, shots, seed and
    settings, the most recently finished one, with a note in ``problems`` naming the one it replaces."""
    chosen: dict[tuple[Any, ...], RunRecord] = {}
    for run in sorted(runs, key=lambda r: (r.created, str(r.path))):
        key = (base_name(run), run.dataset, run.protocol, run.shots, run.seed, signature(run))
        if key in chosen:
            problems.append(
                f"{chosen[key].path} and {run.path} are the same run (method, dataset, protocol, shots, seed and "
                f"settings); using the newer {run.path}"
            )
        chosen[key] = run
    return list(chosen.values())
