"""The 15 built-in datasets in the paper's order; the registry registers ``BUILTIN_SPECS``."""

from __future__ import annotations

from hicropl.data.datasets import (
    caltech101,
    dtd,
    eurosat,
    fgvc_aircraft,
    food101,
    imagenet,
    imagenet_a,
    imagenet_r,
    imagenet_sketch,
    imagenetv2,
    oxford_flowers,
    oxford_pets,
    stanford_cars,
    sun397,
    ucf101,
)
from hicropl.data.spec import DatasetSpec

# The paper's order: the 11 recognition datasets, then the four ImageNet variants.
BUILTIN_SPECS: tuple[DatasetSpec, ...] = (
    imagenet.SPEC,
    caltech101.SPEC,
    oxford_pets.SPEC,
    stanford_cars.SPEC,
    oxford_flowers.SPEC,
    food101.SPEC,
    fgvc_aircraft.SPEC,
    sun397.SPEC,
    dtd.SPEC,
    eurosat.SPEC,
    ucf101.SPEC,
    imagenetv2.SPEC,
    imagenet_sketch.SPEC,
    imagenet_a.SPEC,
    imagenet_r.SPEC,
)

__all__ = ["BUILTIN_SPECS"]
