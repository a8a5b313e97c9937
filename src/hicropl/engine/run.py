"""One training run, start to finish, in a run folder (``hicropl train`` and ``hicropl zero-shot``).

config.yaml -> (resume from checkpoint.pt) -> train -> checkpoint.pt (finished) -> the protocol's
evaluations -> result.json. A folder with result.json is finished and is not overwritten unless asked.
The folder is locked for the whole run, ``--overwrite`` keeps the old run until the new one has started
and ``run_state.json`` follows the run (:mod:`hicropl.engine.run_guard`); Ctrl-C, SIGTERM and SIGUSR1
stop it where a rerun resumes (:mod:`hicropl.engine.stop_signals`).
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import logging
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml
from torch.utils.data import DataLoader

from hicropl.atomic import atomic_write_text
from hicropl.clip.features import default_cache_dir
from hicropl.engine.backbone import check_clip_source, load_backbone, resolve_device
from hicropl.engine.data import (
    Evaluation,
    TrainingData,
    canonical_dataset,
    check_shots,
    class_set,
    eval_loader,
    image_dataset,
    load_evaluation,
    load_training_data,
    planned_evaluations,
    resolve_root,
    skipped_images,
    transforms_of,
)
from hicropl.engine.distributed import DistInfo, barrier, init_from_env
from hicropl.engine.evaluate import evaluate
from hicropl.engine.frozen_features import cached_frozen_features
from hicropl.engine.host_allocator import tune_host_allocator_for
from hicropl.engine.metrics import EvalMetrics
from hicropl.engine.provenance import environment
from hicropl.engine.run_checkpoint import load_checkpoint
from hicropl.engine.run_config import (
    RunConfig,
    dump_run_config,
    resolved_run_config,
    run_config_to_dict,
)
from hicropl.engine.run_guard import FolderGuard, guarded_folder
from hicropl.engine.runlog import FILE_ONLY, run_logging
from hicropl.engine.seeding import seed_everything
from hicropl.engine.stop_signals import StopSignals
from hicropl.engine.trainer import FitResult, StepCallback, Trainer
from hicropl.errors import CheckpointError, ConfigError, DataError
from hicropl.methods.base import MethodRuntime, PromptMethod, build_method, get_method_class
from hicropl.precision import resolve_precision
from hicropl.results.record import SCHEMA_VERSION, summarize
from hicropl.results.run_folder import RunFolder, write_json_atomic

log = logging.getLogger("hicropl.run")

# Settings that may change between an interrupted run and its resumption without changing results.
_RESUME_FREE = {
    ("train", "num_workers"),
    ("train", "device"),
    ("train", "tensorboard"),
    ("train", "eval_batch_size"),
    ("train", "feature_cache"),
    ("train", "prefetch_factor"),
    ("train", "gradient_checkpointing"),
    ("train", "compile"),
    ("train", "compile_backend"),
    ("data", "root"),
    ("data", "targets"),
    ("clip",),
    ("label",),
}


def default_run_dir(config: RunConfig, root: str | Path = "runs") -> Path:
    """``runs/<protocol>/<label or method[-variant]>/<dataset>/shots_<K>/seed_<S>``.

    A labelled run (an ablation, say) gets its own folder, named as the reports name its row; a
    label's characters other than letters, digits and ``._+-`` become ``_`` there.
    """
    method = f"{config.method_name}-{config.variant}" if config.variant else config.method_name
    if config.label:
        method = re.sub(r"[^\w.+-]", "_", config.label)
    return (
        Path(root)
        / config.data.protocol
        / method
        / (canonical_dataset(config.data.dataset) if config.data.dataset else "")  # folder:/csv: by readable name
        / f"shots_{config.data.shots}"
        / (f"seed_{config.seed}")
    )


def _differences(old: Any, new: Any, path: tuple[str, ...] = ()) -> list[str]:
    if isinstance(old, dict) and isinstance(new, dict):
        out = []
        for key in sorted(set(old) | set(new), key=str):
            out += _differences(old.get(key), new.get(key), (*path, str(key)))
        return out
    if path in _RESUME_FREE or old == new:
        return []
    return [f"{'.'.join(path)}: {old!r} -> {new!r}"]


def check_output(folder: RunFolder) -> None:
    if folder.path.exists() and not folder.path.is_dir():
        raise ConfigError(f"--output {folder.path} is a file, not a folder; choose another --output.")


def prepare_folder(folder: RunFolder, config: RunConfig, overwrite: bool, dist: DistInfo) -> dict[str, Any] | None:
    """Check the (locked) folder; returns the checkpoint to resume from, or None to start afresh (with
    ``overwrite``, the run guard then moves the old run aside)."""
    check_output(folder)
    if overwrite:
        return None
    if folder.is_finished():
        raise ConfigError(
            f"The run folder {folder.path} already holds a finished run (result.json); pass --overwrite to replace "
            "it or choose another --output."
        )
    if not folder.has_checkpoint():
        return None
    checkpoint = load_checkpoint(folder.checkpoint)
    if folder.config.is_file():
        saved = yaml.safe_load(folder.config.read_text("utf-8")) or {}
        changed = _differences(saved, run_config_to_dict(config))
        if changed:
            raise ConfigError(
                f"The run folder {folder.path} holds an unfinished run with other settings ({'; '.join(changed[:5])}). "
                "Rerun with the same settings to resume it, or pass --overwrite to start over."
            )
    return checkpoint


def preflight(config: RunConfig) -> None:
    """Fail on a missing dataset, data root or weights file before the run folder is touched."""
    canonical_dataset(config.data.dataset)
    check_clip_source(config.clip)
    resolve_root(config.data.root, config.data.dataset)


def _tensorboard(folder: RunFolder, enabled: bool, dist: DistInfo) -> Any:
    if not enabled or not dist.is_main:
        return None
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError as exc:
        raise ConfigError("train.tensorboard=true needs TensorBoard: pip install 'hicropl[tb]'") from exc
    return SummaryWriter(str(folder.tensorboard))


def run_evaluations(
    method: PromptMethod,
    evaluations: list[Evaluation],
    config: RunConfig,
    data: TrainingData | None,
    dist: DistInfo,
    progress: bool,
    results_on_console: bool = True,
) -> tuple[dict[str, dict[str, Any]], int]:
    """Evaluate ``method`` on each evaluation (switching classes as needed); returns records and skipped images.
    ``results_on_console=False`` logs each result to log.txt only, for callers that print it themselves."""
    records: dict[str, dict[str, Any]] = {}
    skipped = 0
    pin = method.device.type == "cuda"
    for evaluation in evaluations:
        source = data.full if data is not None else None
        chosen, dataset = load_evaluation(
            evaluation, config.data.root, method.backbone, config.train.skip_corrupt, splits=source
        )
        classes = class_set(chosen)
        if classes != method.classes:
            method.set_classes(classes)
        loader = eval_loader(dataset, config.train.eval_batch_size, config.train.num_workers, dist, pin)
        frozen = _frozen_features(method, dataset, evaluation.dataset, evaluation.split, config, dist)
        metrics = evaluate(
            method, loader, chosen.classnames, config.train.precision, dist, progress, evaluation.name, frozen
        )
        skipped += skipped_images(dataset)
        records[evaluation.name] = evaluation_record(evaluation, metrics)
        log.info(
            "%s: accuracy %.2f, macro-F1 %.2f (%d images)",
            evaluation.name,
            metrics.accuracy,
            metrics.macro_f1,
            metrics.count,
            extra={} if results_on_console else FILE_ONLY,
        )
    return records, skipped


def _frozen_features(
    method: PromptMethod, dataset: Any, name: str, split: str, config: RunConfig, dist: DistInfo
) -> Any:
    if not config.train.feature_cache:
        return None
    return cached_frozen_features(
        method, dataset, name, split, config.train.eval_batch_size, config.train.num_workers, dist
    )


def fit_closed_form(method: PromptMethod, data: TrainingData, config: RunConfig) -> None:
    """Methods fitted in closed form rather than by SGD (the linear probe) fit here, on frozen features
    of the few-shot train and val images under the deterministic test transform, as CoOp does."""
    if not method.fits_in_closed_form or method.is_fitted:
        return
    _, test_tf, _ = transforms_of(method.backbone)
    workers, batch = config.train.num_workers, config.train.eval_batch_size
    train_loader = DataLoader(image_dataset(data.splits.train, test_tf, False), batch_size=batch, num_workers=workers)
    val_loader = (
        DataLoader(image_dataset(data.splits.val, test_tf, False), batch_size=batch, num_workers=workers)
        if len(data.splits.val)
        else None
    )
    log.info("%s fitted in closed form: %s", method.name, method.fit_closed_form(train_loader, val_loader))


def evaluation_record(evaluation: Evaluation, metrics: EvalMetrics) -> dict[str, Any]:
    return {
        "name": evaluation.name,
        "dataset": evaluation.dataset,
        "subset": evaluation.subset,
        "split": evaluation.split,
        **metrics.to_dict(),
    }


def train(
    config: RunConfig,
    output: str | Path,
    *,
    overwrite: bool = False,
    quiet: bool = False,
    progress: bool = True,
    step_callbacks: list[StepCallback] | None = None,
) -> dict[str, Any]:
    """Train ``config`` in the run folder ``output`` (resuming an interrupted run there); returns result.json."""
    dist = init_from_env()
    preflight(config)
    config = resolved_run_config(config, resolve_device(config.train.device, dist))
    folder = RunFolder.at(output)
    check_output(folder)
    with _guarded_run(folder, config, overwrite, quiet, dist) as (guard, stop, resume, writer):
        log.info("Run folder %s (%s)", folder.path, "resuming" if resume else "new run")
        device = resolve_device(config.train.device, dist)
        tune_host_allocator_for(device, config.train.tune_host_allocator)
        backbone = load_backbone(config.clip, device)
        backbone.image_encoder.gradient_checkpointing = config.train.gradient_checkpointing
        backbone.reference_order = config.train.reference_order
        if resume is not None and resume.get("backbone_checksum") not in (None, backbone.checksum):
            raise CheckpointError(
                f"The run in {folder.path} was trained with other CLIP weights ({resume['backbone_checksum'][:16]}...) "
                f"than --clip {config.clip} ({backbone.checksum[:16]}...); resume with the original weights or "
                "pass --overwrite to start over."
            )
        method_class = get_method_class(config.method_name)
        data = load_training_data(
            config.data,
            config.seed,
            backbone,
            config.train.skip_corrupt,
            method_class.train_augmentation,
            method_class.takes_second_view,
        )
        seed_everything(config.seed)
        runtime = MethodRuntime(cache_dir=default_cache_dir())
        method = build_method(config.method_name, backbone, class_set(data.splits), config.method, runtime)
        if method.num_trainable() or method.fits_in_closed_form:  # zero-shot CLIP uses no training image
            check_shots(data, config.data)
        val_loader = (
            eval_loader(data.val, config.train.eval_batch_size, config.train.num_workers, dist, device.type == "cuda")
            if len(data.val)
            else None
        )
        val_frozen = None
        if val_loader is not None and config.train.selection == "best_val":  # only best_val validates
            val_frozen = _frozen_features(method, data.val, data.splits.name, "val", config, dist)
        trainer = Trainer(
            method,
            data.train,
            train=config.train,
            optim=config.optim,
            sched=config.sched,
            seed=config.seed,
            checkpoint_path=folder.checkpoint,
            dist=dist,
            validate=(
                lambda: evaluate(
                    method,
                    val_loader,
                    data.splits.classnames,
                    config.train.precision,
                    dist,
                    progress and not quiet,
                    "val",
                    val_frozen,
                )
            )
            if val_loader is not None
            else None,
            on_epoch_end=folder.append_metrics,
            step_callbacks=step_callbacks,
            progress=progress and not quiet,
            scalar_writer=writer,
            stop=stop,
        )
        log.info("%s: %d trainable parameters", config.method_name, method.num_trainable())
        if resume is not None:
            trainer.load_checkpoint(resume)
            if dist.is_main:
                torn = folder.repair_metrics()
                if torn is not None:
                    log.warning("Dropped the torn last line of %s (cut off by a kill): %r", folder.metrics, torn)
                folder.keep_metrics_through(trainer.state.epoch)
            log.info("Resuming at epoch %d, step %d", trainer.state.epoch + 1, trainer.state.step)
        elif dist.is_main:
            folder.metrics.unlink(missing_ok=True)
        guard.commit()  # the run has started: an --overwrite'n run can go
        stop.phase, stop.kept = "training", f"the last checkpoint in {folder.path}, if any, is intact"
        fit = trainer.fit()
        fit_closed_form(method, data, config)
        trainer.save_checkpoint(finished=True)
        stop.phase = "evaluating the trained model"
        stop.kept = f"it is saved in {folder.checkpoint} and the rerun only evaluates it"
        try:
            evaluations, skipped = run_evaluations(
                method, planned_evaluations(config.data), config, data, dist, progress and not quiet
            )
        except DataError as exc:
            raise DataError(
                f"{exc}. The trained model is kept in {folder.checkpoint}: fix the data (or leave that target out "
                "with --set data.targets=[...]) and rerun the same command to evaluate without retraining."
            ) from exc
        result = build_result(
            config,
            method,
            data,
            fit,
            evaluations,
            skipped + skipped_images(data.train, data.val),
            dist,
            device,
        )
        if dist.is_main:
            write_json_atomic(folder.result, result)
            # The command prints the summary; the console would show it twice.
            log.info("Finished: %s", ", ".join(f"{k} {v:.2f}" for k, v in result["summary"].items()), extra=FILE_ONLY)
        barrier(dist)
        return result


@contextlib.contextmanager
def _guarded_run(
    folder: RunFolder, config: RunConfig, overwrite: bool, quiet: bool, dist: DistInfo
) -> Iterator[tuple[FolderGuard, StopSignals, dict[str, Any] | None, Any]]:
    """The locked folder, the stop signals, the checkpoint to resume from, the log and TensorBoard."""
    stop = StopSignals()
    with stop.installed(), stop.as_training_interrupted(), guarded_folder(folder, "train", dist) as guard:
        resume = prepare_folder(folder, config, overwrite, dist)
        guard.start(overwrite)
        if resume is not None:
            stop.kept = f"the checkpoint {folder.checkpoint} is as it was"
        if dist.is_main:
            atomic_write_text(folder.config, dump_run_config(config))
        with (
            run_logging(folder.log, quiet, dist.is_main),
            stop.as_training_interrupted(),
            _closing_tensorboard(folder, config, dist) as writer,
        ):
            for note in guard.notes:
                log.warning(note)
            yield guard, stop, resume, writer


@contextlib.contextmanager
def _closing_tensorboard(folder: RunFolder, config: RunConfig, dist: DistInfo) -> Iterator[Any]:
    writer = _tensorboard(folder, config.train.tensorboard, dist)
    try:
        yield writer
    finally:
        if writer is not None:
            writer.close()


def build_result(
    config: RunConfig,
    method: PromptMethod,
    data: TrainingData,
    fit: FitResult,
    evaluations: dict[str, dict[str, Any]],
    skipped: int,
    dist: DistInfo,
    device: Any,
) -> dict[str, Any]:
    backbone = method.backbone
    state = fit.state
    return {
        "schema_version": SCHEMA_VERSION,
        "method": config.method_name,
        "variant": config.variant,
        "label": config.label or None,
        "dataset": data.splits.name,
        "protocol": config.data.protocol,
        "shots": config.data.shots,
        "seed": config.seed,
        "summary": summarize(config.data.protocol, data.splits.name, evaluations),
        "evaluations": evaluations,
        "selection": {
            "mode": config.train.selection,
            "epoch": None if fit.selected_epoch is None else fit.selected_epoch + 1,
            "val_accuracy": fit.selected_val,
        },
        "training": {
            "trained": fit.trained,
            "epochs": state.epoch,
            "optimizer_steps": state.global_step,
            "seconds": round(fit.seconds, 3),
            "trainable_parameters": method.num_trainable(),
            "precision": resolve_precision(config.train.precision, method.device),
            "device": str(device),
            "world_size": dist.world_size,
        },
        "classes": list(data.splits.classnames),
        "description_file": data.splits.description_file,
        "data": {**data.record(), "skipped_images": skipped},
        "backbone": {
            "source": backbone.source,
            "model_name": backbone.model_name,
            "checksum": backbone.checksum,
        },
        "method_records": _plain(dict(method.runtime.records)),
        "environment": environment(method.device),
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }


def _plain(value: Any) -> Any:
    """JSON-safe copy of method records (paths and other objects become strings)."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)
