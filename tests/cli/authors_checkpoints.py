"""The authors' Dassl checkpoints, built from the golden traces' ``state.*`` as the authors' trainers
save them, and the ``hicropl import`` command line that turns one into a run folder.

Each trace configuration is saved as its authors' Dassl trainer saves it: the registered module's state
dict (the prompt learner, or the whole CustomCLIP with CLIP's frozen weights) with an SGD optimizer and a
warmup scheduler whose state pickles its successor scheduler and optimizer.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch

import hicropl.engine.import_run
import hicropl.engine.restore
from hicropl.clip.load import CLIPBackbone, load_clip
from hicropl.methods.authors_config import config_from_authors
from hicropl.methods.authors_names import DASSL_IMPORTABLE, PROMPT_LEARNER_CHECKPOINTS
from hicropl.methods.authors_shapes import config_from_shapes
from hicropl.methods.dassl_checkpoint import authors_state
from tests.methods.reference_replay import (
    OFFICIAL_HICROPL_TRACE,
    REFERENCE_TRACES,
    TraceConfig,
    _model_config,
    authors_cfg,
    official_trace_configs,
    reference_trace_configs,
    tiny_clip_file,
)

CONFIGS = [
    config
    for config in reference_trace_configs(REFERENCE_TRACES) + official_trace_configs(OFFICIAL_HICROPL_TRACE)
    if config.method in DASSL_IMPORTABLE
]
ONE_PER_METHOD = list({c.method: c for c in CONFIGS}.values())
# Dassl's register_model names: the folder each trainer writes its checkpoints to.
MODULE_FOLDER = {"ivlp": "VLPromptLearner", "maple": "MultiModalPromptLearner"}


def manifest_of(config: TraceConfig) -> dict[str, Any]:
    return json.loads((config.manifest_dir / "manifest.json").read_text())


def _trace(config: TraceConfig) -> dict[str, torch.Tensor]:
    spec = manifest_of(config)["configs"][config.name]
    return torch.load(config.manifest_dir / spec["file"], map_location="cpu", weights_only=True)


def tiny_clip(config: TraceConfig) -> Path:
    return tiny_clip_file(manifest_of(config), config.manifest_dir)


def authors_state_dict(config: TraceConfig) -> dict[str, torch.Tensor]:
    """The state dict of the module the authors' trainer registers, from the trace's initial state."""
    manifest = manifest_of(config)
    spec = manifest["configs"][config.name]
    state = {key[len("state.") :]: value for key, value in _trace(config).items() if key.startswith("state.")}
    if config.method in PROMPT_LEARNER_CHECKPOINTS:
        own = {k.removeprefix("prompt_learner."): v for k, v in state.items() if k.startswith("prompt_learner.")}
        # KgCoOp's prompt learner also holds modules its forward never uses; the trace lists their shapes.
        for name, entry in spec.get("unused_state_not_stored", {}).items():
            if name.startswith("prompt_learner."):
                own[name.removeprefix("prompt_learner.")] = torch.zeros(entry["shape"])
        return own
    # The whole CustomCLIP: the trace leaves out the tensors that are the tiny CLIP's own.
    tiny = torch.load(tiny_clip(config), map_location="cpu", weights_only=True)
    for authors, clip_name in spec["state_keys_omitted_equal_to_tiny_clip"].items():
        state[authors] = tiny[clip_name].clone()
    return state


def dassl_checkpoint(state: dict[str, torch.Tensor], dtype: torch.dtype, epoch: int = 5) -> dict[str, Any]:
    """What Dassl's ``save_model`` writes, with its optimizer and ``ConstantWarmupScheduler`` state."""
    params = [torch.nn.Parameter(v.float().clone()) for v in state.values() if v.is_floating_point()][:3]
    optimizer = torch.optim.SGD(params, lr=0.002, momentum=0.9, weight_decay=5e-4)
    successor = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, float(epoch))
    sum(p.sum() for p in params).backward()
    optimizer.step()
    successor.step()
    warmup = {"successor": successor, "warmup_epoch": 1, "cons_lr": 1e-5, "last_epoch": epoch, "base_lrs": [0.002]}
    return {
        "state_dict": {k: v.to(dtype) if v.is_floating_point() else v for k, v in state.items()},
        "epoch": epoch,
        "optimizer": optimizer.state_dict(),
        "scheduler": warmup,
        "val_result": None,
    }


def save_checkpoint(folder: Path, config: TraceConfig, dtype: torch.dtype, state=None) -> Path:
    module = folder / MODULE_FOLDER.get(config.method, "prompt_learner")
    module.mkdir(parents=True, exist_ok=True)
    path = module / "model.pth.tar-5"
    torch.save(dassl_checkpoint(state if state is not None else authors_state_dict(config), dtype), path)
    return path


def authors_settings(config: TraceConfig) -> dict[str, Any]:
    """Our method config for the trace's authors' settings."""
    return config_from_authors(config.method, authors_cfg(config.method, manifest_of(config)["configs"][config.name]))


def given_settings(config: TraceConfig) -> list[str]:
    """``--set`` flags for the settings the checkpoint's shapes cannot show (ctx_init, the class token's
    position, KgCoOp's weight); the import fills in the rest."""
    settings = authors_settings(config)
    shapes = authors_state(config.method, authors_state_dict(config)).shapes()
    shown = config_from_shapes(config.method, shapes, settings)
    flags = ["--set", "train.num_workers=0"]
    for key, value in settings.items():
        if key not in shown:
            flags += ["--set", f"method.{key}={json.dumps(value) if not isinstance(value, str) else value}"]
    return flags


def use_trace_clip(monkeypatch: pytest.MonkeyPatch) -> None:
    """The traces' tiny CLIP has 8-wide attention heads, which its state dict does not show (loading infers
    64-wide ones, as OpenAI's loader does): make import, eval and predict load it with the manifest's
    architecture."""
    model_config = _model_config(manifest_of(CONFIGS[0])["tiny_clip"])

    def load(source: str, device: torch.device) -> CLIPBackbone:
        return load_clip(source, model_config=model_config, device=device)

    monkeypatch.setattr(hicropl.engine.import_run, "load_backbone", load)
    monkeypatch.setattr(hicropl.engine.restore, "load_backbone", load)


def import_args(config: TraceConfig, checkpoint: Path, run: Path, data_root: Path, *extra: object) -> list[object]:
    return [
        "import",
        "--method",
        config.method,
        checkpoint,
        "--dataset",
        "ImageNet",  # the miniature's 5 classes, as many as the traces'
        "--protocol",
        "fewshot",
        "--seed",
        "1",
        "--data-root",
        data_root,
        "--clip",
        tiny_clip(config),
        "--output",
        run,
        "--quiet",
        *extra,
    ]
