"""A finished run folder back as a ready method: its config, its CLIP (checked) and its checkpoint."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from hicropl.clip.features import default_cache_dir
from hicropl.engine.backbone import load_backbone, resolve_device
from hicropl.engine.distributed import DistInfo
from hicropl.engine.host_allocator import tune_host_allocator_for
from hicropl.engine.run import load_run_config_from
from hicropl.engine.run_checkpoint import load_checkpoint
from hicropl.engine.run_config import RunConfig
from hicropl.errors import CheckpointError, ConfigError
from hicropl.methods.base import ClassSet, MethodRuntime, PromptMethod, build_method
from hicropl.results.run_folder import RunFolder, read_json


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
) -> RestoredRun:
    """Rebuild the trained method of ``run_dir``; ``clip``/``data_root`` replace the recorded paths."""
    folder = RunFolder.at(run_dir)
    if not folder.path.is_dir():
        raise ConfigError(f"The run folder {folder.path} does not exist; pass a folder made by `hicropl train`.")
    config = load_run_config_from(folder)
    if not folder.is_finished():
        raise ConfigError(
            f"The run in {folder.path} has not finished (no result.json); rerun its `hicropl train` command to "
            "finish it first."
        )
    result = read_json(folder.result)
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
        raise CheckpointError(f"{folder.checkpoint} does not fit {config.method_name}: {exc}") from exc
    return RestoredRun(folder, config, result, method)
