"""ToyWorld: a procedurally generated world where prompt learning on a frozen CLIP works on a CPU.

* a seeded renderer of compositional concepts (colour x shape x pattern, colour x letter) with captions;
* downstream datasets with a domain shift, generated into the data root and registered with the
  dataset registry (``ToyWorldShapes``, ``ToyWorldGlyphs``), with per-class descriptions;
* a tiny CLIP pretrained on it, shipped with the package (:func:`load_toyworld_clip`), and the
  resumable command that made it (:func:`pretrain`);
* :func:`run_demo`: zero-shot CLIP, CoOp and HiCroPL base-to-novel through the engine in minutes.

Names are imported lazily, so ``import hicropl.toyworld`` stays cheap.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

_EXPORTS = {
    "ToyDataset": "hicropl.toyworld.datasets",
    "TOYWORLD_DATASETS": "hicropl.toyworld.datasets",
    "TOYWORLD_SPECS": "hicropl.toyworld.datasets",
    "get_toy_dataset": "hicropl.toyworld.datasets",
    "prepare_dataset": "hicropl.toyworld.datasets",
    "prepare_datasets": "hicropl.toyworld.datasets",
    "register_toyworld_datasets": "hicropl.toyworld.datasets",
    "TOYWORLD_CLIP_CONFIG": "hicropl.toyworld.pretrain",
    "pretrain": "hicropl.toyworld.pretrain",
    "WEIGHTS_SHA256": "hicropl.toyworld.weights",
    "PRETRAIN_COMMAND": "hicropl.toyworld.weights",
    "PRETRAIN_SEED": "hicropl.toyworld.weights",
    "WeightsChecksumError": "hicropl.toyworld.weights",
    "load_toyworld_clip": "hicropl.toyworld.weights",
    "toyworld_weights_path": "hicropl.toyworld.weights",
    "DemoError": "hicropl.toyworld.demo",
    "DemoResult": "hicropl.toyworld.demo",
    "run_demo": "hicropl.toyworld.demo",
    "zero_shot_accuracy": "hicropl.toyworld.probe",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'hicropl.toyworld' has no attribute {name!r}")
    return getattr(import_module(module), name)
