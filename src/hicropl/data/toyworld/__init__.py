"""ToyWorld's data: a procedurally generated world and the downstream datasets drawn from it.

* ``world``: the concepts (colours, shapes, patterns, letters) and the words that name them;
* ``render``: a seeded, vectorised renderer of scenes of those concepts;
* ``styles``: image distributions, the broad pretraining world and the shifted downstream domains;
* ``text``: pretraining captions, class names and per-class descriptions;
* ``datasets``: ``ToyWorldShapes`` and ``ToyWorldGlyphs``, generated into a data root on first use
  and registered with :mod:`hicropl.data.registry` like the downloaded datasets.

The tiny CLIP pretrained on this world, its pretraining and ``hicropl demo`` live in
:mod:`hicropl.toyworld`.
"""

from hicropl.data.toyworld.datasets import (
    TOYWORLD_DATASETS,
    TOYWORLD_GLYPHS,
    TOYWORLD_SHAPES,
    TOYWORLD_SPECS,
    ToyDataset,
    get_toy_dataset,
    prepare_dataset,
    prepare_datasets,
    register_toyworld_datasets,
)

__all__ = [
    "TOYWORLD_DATASETS",
    "TOYWORLD_GLYPHS",
    "TOYWORLD_SHAPES",
    "TOYWORLD_SPECS",
    "ToyDataset",
    "get_toy_dataset",
    "prepare_dataset",
    "prepare_datasets",
    "register_toyworld_datasets",
]
