"""A finished run folder back as a ready method: its config, its CLIP (checked) and its checkpoint."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import yaml

from hicropl.clip.features import default_cache_dir
from hicropl.engine.backbone import load_backbone, resolve_device
from hicropl.engine.distributed import DistInfo
from hicropl.engine.host_allocator import tune_host_allocator_for
from hicropl.engine.run_checkpoint import load_checkpoint
from hicropl.engine.run_config import RunConfig, build_run_config
from hicropl.errors import CheckpointError, ConfigError, HicroplError
from hicropl.methods.base import ClassSet, MethodRuntime, PromptMethod, build_method, get_method_class
from hicropl.results.run_folder import RunFolder
from hicropl.typed_config import apply_overrides


@dataclass
class RestoredRun:
    folder: RunFolder
    config: RunConfig
    result: dict[str, Any]
    method: PromptMethod

    @property
    def train_classes(self) -> ClassSet:
        return train_classes(self.result)


def train_classes(result: dict[str, Any]) -> ClassSet:
    return ClassSet(tuple(result["classes"]), result["dataset"], result.get("description_file"))


# The keys of config.yaml that every run has written (run_config_to_dict), in their order.
_WRITTEN_KEYS = ("method", "data", "train", "optim", "sched", "seed", "clip")


def one_line(problem: object) -> str:
    """An exception's text on one line, without a final full stop (parsers' messages span several lines)."""
    return " ".join(str(problem).split()).rstrip(".")


def _damaged(file: Path, problem: str) -> ConfigError:
    problem = one_line(problem)
    return ConfigError(
        f"The run file {file} is damaged ({problem}); restore it from a backup, or rerun the run's "
        "`hicropl train` command with --overwrite to remake the run."
    )


def _read_text(file: Path) -> str:
    try:
        return file.read_text("utf-8")
    except UnicodeDecodeError as exc:
        raise _damaged(file, f"not UTF-8 text: {exc.reason} at byte {exc.start}") from exc
    except OSError as exc:
        raise ConfigError(f"Cannot read the run file {file} ({exc.strerror or exc}); check its permissions.") from exc


def read_run_config_data(folder: RunFolder) -> dict[str, Any]:
    """The mapping in the config.yaml of a finished run; a missing, unreadable or garbled file, or an
    unfinished run, is a ConfigError naming it."""
    if not folder.path.is_dir():
        raise ConfigError(f"The run folder {folder.path} does not exist; pass a folder made by `hicropl train`.")
    if not folder.config.is_file():
        raise ConfigError(
            f"{folder.path} is not a run folder (no {folder.config.name}); pass a folder made by `hicropl train`."
        )
    if not folder.is_finished():
        raise ConfigError(
            f"The run in {folder.path} has not finished (no result.json); rerun its `hicropl train` command to "
            "finish it first."
        )
    try:
        data = yaml.safe_load(_read_text(folder.config))
    except yaml.YAMLError as exc:
        raise _damaged(folder.config, f"not valid YAML: {exc}") from exc
    if data is None:
        raise _damaged(folder.config, "it is empty")
    if not isinstance(data, dict):
        raise _damaged(folder.config, f"it holds a {type(data).__name__}, not the mapping of config sections")
    # `hicropl train` writes every section; one missing means a cut-short file, whose defaults would
    # silently stand in for the run's settings.
    missing = [key for key in _WRITTEN_KEYS if key not in data]
    if missing:
        raise _damaged(folder.config, f"it lacks {', '.join(missing)}; the file looks cut short")
    method = data.get("method")
    if not (isinstance(method, str) or (isinstance(method, dict) and method.get("name"))):
        raise _damaged(folder.config, "it names no method (method.name)")
    return data


def read_run_config(folder: RunFolder, overrides: Sequence[str] = ()) -> RunConfig:
    """The run's config, with ``--set`` ``overrides`` applied on top (checked like train's)."""
    data = read_run_config_data(folder)
    name = data["method"] if isinstance(data["method"], str) else data["method"]["name"]
    try:
        get_method_class(str(name))
    except ConfigError as exc:
        raise ConfigError(
            f"The run in {folder.path} used the method {name!r} ({folder.config.name}), which is not registered "
            "here: import the package that registers it, or use the hicropl version that made the run."
        ) from exc
    try:
        config = build_run_config(data)
    except HicroplError as exc:
        raise _damaged(folder.config, str(exc)) from exc
    return build_run_config(apply_overrides(data, overrides)) if overrides else config


def read_run_result(folder: RunFolder) -> dict[str, Any]:
    """The run's result.json, checked for what restoring needs: the training classes and dataset."""
    try:
        result = json.loads(_read_text(folder.result))
    except json.JSONDecodeError as exc:
        raise _damaged(folder.result, f"not valid JSON: {exc}") from exc
    if not isinstance(result, dict):
        raise _damaged(folder.result, f"it holds a JSON {type(result).__name__}, not an object")
    classes = result.get("classes")
    if not isinstance(classes, list) or not classes or not all(isinstance(c, str) for c in classes):
        raise _damaged(folder.result, "no list of class names under 'classes'")
    if not isinstance(result.get("dataset"), str) or not result["dataset"]:
        raise _damaged(folder.result, "no dataset name under 'dataset'")
    for key in ("backbone", "summary", "evaluations"):
        if not isinstance(result.get(key, {}), Mapping):
            raise _damaged(folder.result, f"'{key}' is not an object")
    if not isinstance(result.get("description_file"), str | None):
        raise _damaged(folder.result, "'description_file' is not a file name")
    return result


def existing_run_folder(run_dir: str | Path) -> RunFolder:
    folder = RunFolder.at(run_dir)
    if not folder.path.is_dir():
        raise ConfigError(f"The run folder {folder.path} does not exist; pass a folder made by `hicropl train`.")
    return folder


def _recorded_device_here(recorded: str) -> str:
    """config.yaml records the device the run trained on; a run trained on a GPU restores on a CPU-only host."""
    return "auto" if recorded.startswith("cuda") and not torch.cuda.is_available() else recorded


def restore_run(
    run_dir: str | Path,
    *,
    clip: str | None = None,
    data_root: str | None = None,
    device: str | None = None,
    dist: DistInfo | None = None,
    overrides: Sequence[str] = (),
) -> RestoredRun:
    """Rebuild the trained method of ``run_dir``; ``clip``/``data_root`` replace the recorded paths and
    ``overrides`` (``key=value``, as ``--set``) change recorded settings (say method.description_fallback).
    The checkpoint's checksum is verified (``run_checkpoint.load_checkpoint``)."""
    folder = existing_run_folder(run_dir)
    config = read_run_config(folder, overrides)
    result = read_run_result(folder)
    config = dataclasses.replace(
        config,
        clip=clip or config.clip,
        data=dataclasses.replace(config.data, root=data_root or config.data.root),
        train=dataclasses.replace(config.train, device=device or _recorded_device_here(config.train.device)),
    )
    torch_device = resolve_device(config.train.device, dist or DistInfo())
    if torch_device.type == "cpu" and config.train.precision == "fp16":  # a GPU run evaluated on a CPU
        config = dataclasses.replace(config, train=dataclasses.replace(config.train, precision="fp32"))
    tune_host_allocator_for(torch_device, config.train.tune_host_allocator)
    backbone = load_backbone(config.clip, torch_device)
    backbone.reference_order = config.train.reference_order  # evaluate in the order the run trained in
    expected = result.get("backbone", {}).get("checksum")
    if expected and backbone.checksum != expected:
        raise CheckpointError(
            f"The CLIP weights {config.clip} (checksum {backbone.checksum[:16]}...) are not those the run in "
            f"{folder.path} was trained with ({result['backbone'].get('source')}, checksum {expected[:16]}...); "
            "pass --clip with the original weights."
        )
    checkpoint = load_checkpoint(folder.checkpoint)
    runtime = MethodRuntime(cache_dir=default_cache_dir())
    method = build_method(config.method_name, backbone, train_classes(result), config.method, runtime)
    try:
        method.load_state_dict(checkpoint["method"])
    except RuntimeError as exc:
        changed = f" with {', '.join(overrides)}" if overrides else ""
        raise CheckpointError(
            f"{folder.checkpoint} does not fit {config.method_name}{changed}: {one_line(exc)}"
            + ("; drop the --set of fields that shape the method (lengths, depths)" if overrides else "")
        ) from exc
    return RestoredRun(folder, config, result, method)
