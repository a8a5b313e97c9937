"""Trainable-parameter counts of every registered method at CLIP ViT-B/16 shapes (random weights).

Usage: python benchmarks/param_counts.py [--classes 10] [--json OUT]
Counts do not depend on the weights; class-specific methods (CoOp CSC) scale with --classes.
"""

from __future__ import annotations

import argparse
import json

import torch

from hicropl.clip.random import VIT_B16_CONFIG, random_clip
from hicropl.methods import ClassSet, build_method, list_methods

VARIANTS: dict[str, list[dict]] = {
    "hicropl": [
        {"variant": "paper", "frozen_text": "template"},
        {"variant": "official"},
        {"variant": "paper", "frozen_text": "template", "n_ctx": 2, "depth": 6, "boundary": 5},
    ],
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--classes", type=int, default=10)
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    torch.set_grad_enabled(True)
    backbone = random_clip(VIT_B16_CONFIG, seed=0)
    names = tuple(f"class {i}" for i in range(args.classes))
    classes = ClassSet(names, descriptions={n: [f"a photo of a {n}."] for n in names})
    rows = []
    for method in list_methods():
        for config in VARIANTS.get(method, [{}]):
            built = build_method(method, backbone, classes, config)
            rows.append({"method": method, "config": config, "trainable": built.num_trainable()})
            print(f"{method:14s} {json.dumps(config):70s} {built.num_trainable():>12,d}")
    if args.json:
        with open(args.json, "w") as handle:
            json.dump({"classes": args.classes, "rows": rows}, handle, indent=2)


if __name__ == "__main__":
    main()
