"""``hicropl import``: an authors' Dassl checkpoint as a run folder that eval, predict and report use.

The folder is a finished run without training: ``config.yaml`` (the settings, with what the
checkpoint's shapes fix filled in), ``checkpoint.pt`` (the method's state in this library's names),
``result.json`` (``imported_from``: the file, its sha256 and the authors' epoch; no evaluations until
``hicropl eval`` adds them) and ``log.txt``. Its default label, ``<method>-authors``, keeps its report
rows apart from runs trained here. The folder is locked while it is written (``engine.run_guard``).
"""

from __future__ import annotations

import datetime as _dt
import logging
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import torch

from hicropl.atomic import atomic_write_text
from hicropl.clip.features import default_cache_dir
from hicropl.clip.weights_file import file_sha256
from hicropl.data.registry import build_dataset
from hicropl.data.subsample import subsample_classes
from hicropl.engine.backbone import load_backbone
from hicropl.engine.data import canonical_dataset, class_set, planned_evaluations, resolve_root, train_subset
from hicropl.engine.provenance import environment
from hicropl.engine.run import preflight
from hicropl.engine.run_checkpoint import FORMAT, VERSION, atomic_save, method_state
from hicropl.engine.run_config import RunConfig, dump_run_config, load_run_config, read_yaml
from hicropl.engine.run_guard import guarded_folder
from hicropl.engine.runlog import run_logging
from hicropl.errors import ConfigError
from hicropl.methods.authors_names import DASSL_IMPORTABLE
from hicropl.methods.authors_shapes import config_from_shapes, set_flags, setting_hints, settings_to_change
from hicropl.methods.base import ClassSet, MethodRuntime, PromptMethod, build_method
from hicropl.methods.dassl_checkpoint import DasslCheckpoint, authors_state, load_authors_state
from hicropl.results.record import SCHEMA_VERSION
from hicropl.results.run_folder import RunFolder, write_json_atomic
from hicropl.typed_config import apply_overrides, to_dict

log = logging.getLogger("hicropl.import")

LABEL_SUFFIX = "-authors"


def _given_method_fields(config_file: str | Path | None, overrides: Iterable[str]) -> dict[str, Any]:
    """The method fields the user set in the config file or with ``--set`` (not the defaults)."""
    data = apply_overrides(read_yaml(config_file) if config_file else {}, overrides)
    section = data.get("method")
    return {k: v for k, v in section.items() if k != "name"} if isinstance(section, Mapping) else {}


def import_config(
    checkpoint: DasslCheckpoint,
    config_file: str | Path | None = None,
    flags: Mapping[str, Any] | None = None,
    overrides: Iterable[str] = (),
) -> RunConfig:
    """The run config for ``checkpoint``: the user's settings, plus what the checkpoint's shapes fix among
    the method fields the user left unset. A given field that disagrees with the shapes is kept, so that
    loading names the tensor, its shape, the shape expected and the setting to change."""
    overrides = list(overrides)
    given = _given_method_fields(config_file, overrides)
    config = load_run_config(config_file, flags, overrides)
    if config.method_name not in DASSL_IMPORTABLE:
        raise ConfigError(
            f"hicropl import does not read the authors' checkpoints of {config.method_name} yet (the layout of "
            f"their files is unchecked); it reads those of {', '.join(sorted(DASSL_IMPORTABLE))}."
        )
    shapes = authors_state(config.method_name, checkpoint.state).shapes()
    needed = config_from_shapes(config.method_name, shapes, to_dict(config.method))
    filled = {f"method.{key}": value for key, value in needed.items() if key not in given}
    conflicts = {key: value for key, value in needed.items() if key in given and given[key] != value}
    try:
        config = load_run_config(config_file, {**(flags or {}), **filled}, overrides)
    except ConfigError as exc:
        if not conflicts:
            raise
        given_text = ", ".join(f"method.{key}={given[key]!r}" for key in conflicts)
        raise ConfigError(
            f"{exc}. The checkpoint's tensor shapes need {set_flags(conflicts)} where the settings give "
            f"{given_text}: change those in the --config file or with --set."
        ) from None
    if not config.label:
        name = f"{config.method_name}-{config.variant}" if config.variant else config.method_name
        config.label = name + LABEL_SUFFIX
    return config


def _check_folder(folder: RunFolder, overwrite: bool) -> None:
    if folder.path.exists() and not folder.path.is_dir():
        raise ConfigError(f"--output {folder.path} is a file, not a folder; choose another --output.")
    if overwrite:
        return
    if folder.is_finished() or folder.has_checkpoint():
        raise ConfigError(
            f"The run folder {folder.path} already holds a run; pass --overwrite to replace it or choose another "
            "--output."
        )


def import_run(
    config: RunConfig,
    checkpoint: DasslCheckpoint,
    output: str | Path,
    *,
    overwrite: bool = False,
    quiet: bool = False,
) -> dict[str, Any]:
    """Load ``checkpoint`` into ``config``'s method for its training classes and write the run folder;
    returns result.json. Nothing is written unless the checkpoint fits."""
    preflight(config)
    folder = RunFolder.at(output)
    _check_folder(folder, overwrite)  # again under the lock below; this early check saves loading CLIP
    device = torch.device("cpu")  # loading needs no accelerator; eval and predict pick their own device
    backbone = load_backbone(config.clip, device)
    splits = build_dataset(canonical_dataset(config.data.dataset), resolve_root(config.data.root), check_files=False)
    classes = class_set(subsample_classes(splits, train_subset(config.data)))
    try:
        method = build_method(
            config.method_name, backbone, classes, config.method, MethodRuntime(cache_dir=default_cache_dir())
        )
    except ConfigError as exc:
        shapes = authors_state(config.method_name, checkpoint.state).shapes()
        if not settings_to_change(config.method_name, shapes, config.method):
            raise
        raise ConfigError(f"{exc}. {setting_hints(config.method_name, shapes, config.method)}") from None
    loaded = load_authors_state(method, checkpoint)
    imported = {
        "format": "dassl",
        "file": str(checkpoint.file.absolute()),
        "sha256": file_sha256(checkpoint.file),
        "epoch": checkpoint.epoch,
        "val_result": checkpoint.val_result,
        "dtypes": checkpoint.dtypes,
        "tensors_loaded": loaded.loaded,
        "rebuilt": loaded.rebuilt,
        "frozen_checked": loaded.frozen_checked,
        "unused": loaded.unused,
    }
    with guarded_folder(folder, "import") as guard:
        _check_folder(folder, overwrite)
        guard.start(overwrite)  # --overwrite: the old run is kept aside until the new one is written
        with run_logging(folder.log, quiet):
            atomic_write_text(folder.config, dump_run_config(config))
            atomic_save(
                {
                    "format": FORMAT,
                    "version": VERSION,
                    "method_name": method.name,
                    "backbone_checksum": backbone.checksum,
                    "method": method_state(method, backbone),
                    "optimizer": None,
                    "scheduler": None,
                    "scaler": None,
                    "finished": True,
                    "imported_from": imported,
                },
                folder.checkpoint,
            )
            result = _result(config, method, classes, imported)
            write_json_atomic(folder.result, result)
            log.info(
                "Imported %s (epoch %s, %s) into %s: %d tensors loaded; rebuilt for the classes: %s; CLIP tensors "
                "checked: %d; unused by the authors' forward: %s",
                checkpoint.file,
                checkpoint.epoch,
                "/".join(checkpoint.dtypes),
                config.label,
                loaded.loaded,
                ", ".join(loaded.rebuilt) or "none",
                loaded.frozen_checked,
                ", ".join(loaded.unused) or "none",
            )
    return result


def _result(config: RunConfig, method: PromptMethod, classes: ClassSet, imported: dict[str, Any]) -> dict[str, Any]:
    backbone = method.backbone
    return {
        "schema_version": SCHEMA_VERSION,
        "method": config.method_name,
        "variant": config.variant,
        "label": config.label or None,
        "dataset": classes.dataset,
        "protocol": config.data.protocol,
        "shots": config.data.shots,
        "seed": config.seed,
        "summary": {},
        "evaluations": {},
        "imported_from": imported,
        "selection": {"mode": "authors", "epoch": imported["epoch"], "val_accuracy": imported["val_result"]},
        "training": {
            "trained": False,
            "imported": True,
            "trainable_parameters": method.num_trainable(),
        },
        "classes": list(classes.names),
        "description_file": classes.description_file,
        "data": {"root": str(resolve_root(config.data.root).absolute()), "classes": len(classes.names)},
        "backbone": {"source": backbone.source, "model_name": backbone.model_name, "checksum": backbone.checksum},
        "method_records": {},
        "environment": environment(),
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }


def evaluation_commands(config: RunConfig, output: str | Path) -> list[str]:
    """The ``hicropl eval`` commands that give the imported run its protocol's evaluations."""
    commands = []
    for evaluation in planned_evaluations(config.data):
        command = f"hicropl eval {output}"
        if evaluation.dataset != config.data.dataset:
            command += f" --dataset {evaluation.dataset}"
        if evaluation.subset != "all":
            command += f" --subset {'novel' if evaluation.subset == 'new' else evaluation.subset}"
        commands.append(command)
    return commands
