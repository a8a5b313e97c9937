"""``hicropl eval``: a finished run on another split, class subset or dataset (cross-dataset, DG)."""

from __future__ import annotations

import datetime as _dt
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hicropl.data.subsample import normalize_subset
from hicropl.engine.data import Evaluation, canonical_dataset
from hicropl.engine.distributed import init_from_env
from hicropl.engine.restore import existing_run_folder, restore_run
from hicropl.engine.run import run_evaluations
from hicropl.engine.run_guard import guarded_folder
from hicropl.engine.runlog import run_logging
from hicropl.engine.stop_signals import StopSignals
from hicropl.results.run_folder import write_json_atomic


def evaluation_file(folder: Path, name: str) -> Path:
    safe = re.sub(r"[^0-9A-Za-z_.-]+", "_", name).strip("_")
    return folder / f"{safe}.json"


def evaluate_run(
    run_dir: str | Path,
    *,
    dataset: str | None = None,
    subset: str = "all",
    split: str = "test",
    data_root: str | None = None,
    clip: str | None = None,
    device: str | None = None,
    batch_size: int | None = None,
    quiet: bool = False,
    progress: bool = True,
    overrides: Sequence[str] = (),
) -> dict[str, Any]:
    """Evaluate the run's trained method and store the record in ``<run>/evals/``; returns the record
    (the caller shows it: the console log leaves the result line to it). ``overrides`` as ``--set``.
    The run folder is locked meanwhile (``engine.run_guard``)."""
    dist = init_from_env()
    folder = existing_run_folder(run_dir)
    stop = StopSignals()
    stop.phase, stop.kept = "evaluating", "the run is unchanged"
    with stop.installed(), stop.as_training_interrupted(), guarded_folder(folder, "eval", dist) as guard:
        restored = restore_run(run_dir, clip=clip, data_root=data_root, device=device, dist=dist, overrides=overrides)
        guard.start()
        config = restored.config
        if batch_size:
            config.train.eval_batch_size = batch_size
        evaluation = Evaluation(
            canonical_dataset(dataset or restored.config.data.dataset), normalize_subset(subset), split
        )
        with run_logging(restored.folder.log, quiet, dist.is_main), stop.as_training_interrupted():
            records, skipped = run_evaluations(
                restored.method, [evaluation], config, None, dist, progress and not quiet, results_on_console=False
            )
        record = {
            **records[evaluation.name],
            "skipped_images": skipped,
            "backbone_checksum": restored.method.backbone.checksum,
            "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        }
        if dist.is_main:
            write_json_atomic(evaluation_file(restored.folder.evals, evaluation.name), record)
        return record
