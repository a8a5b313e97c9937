"""ToyWorld on top of the library: a tiny CLIP pretrained on the ToyWorld world, and ``hicropl demo``.

The world itself (renderer, captions) and its downstream datasets (``ToyWorldShapes``,
``ToyWorldGlyphs``) are data: :mod:`hicropl.data.toyworld`. Here:

* a tiny CLIP pretrained on that world, shipped with the package (:func:`load_toyworld_clip`), and the
  resumable command that made it (:func:`pretrain`);
* :func:`run_demo`: zero-shot CLIP, CoOp and HiCroPL base-to-novel through the engine in minutes.

Names are imported lazily, so ``import hicropl.toyworld`` stays cheap.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

_EXPORTS = {
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
