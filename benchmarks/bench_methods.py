"""Training-step time and trainable parameters of several methods at the same shapes, side by side.

Every method is built with its defaults (the published base-to-novel configuration) on a random CLIP
with ViT-B/16 shapes, 50 classes, and timed for one training step (forward, backward, optimiser
update, gradients freed) at batch 4, median of ``--reps`` after ``--warmup`` untimed steps (the
warm-up also absorbs frozen text features a method computes on first use). Methods that declare
``takes_second_view`` get a second batch of images as their augmented view.

Usage: python benchmarks/bench_methods.py [--methods hicropl promptsrc tcp mma coprompt] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
from typing import Any

import torch

from hicropl.clip.random import VIT_B16_CONFIG, random_clip
from hicropl.methods import ClassSet, build_method
from timing import timed


def measure(method_name: str, backbone: Any, classes: ClassSet, args: argparse.Namespace) -> dict[str, Any]:
    method = build_method(method_name, backbone, classes)
    gen = torch.Generator().manual_seed(0)
    images = torch.randn(args.batch, 3, 224, 224, generator=gen)
    views = torch.randn(args.batch, 3, 224, 224, generator=gen)
    labels = torch.randint(len(classes), (args.batch,), generator=gen)
    optimizer = torch.optim.Adam(method.trainable_parameters(), lr=0.002, eps=1e-3, foreach=False)
    extra = {"second_view": views} if method.takes_second_view else {}
    method.train()

    def train_step() -> None:
        out = method(images, labels, **extra)
        assert out.loss is not None
        out.loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    times = timed(train_step, args.warmup, args.reps)
    return {
        "method": method_name,
        "trainable": method.num_trainable(),
        "train_step_s": {"median": statistics.median(times), "min": min(times), "max": max(times)},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--methods", nargs="+", default=["hicropl", "promptsrc", "tcp", "mma", "coprompt"])
    parser.add_argument("--classes", type=int, default=50)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    backbone = random_clip(VIT_B16_CONFIG, seed=0)
    names = tuple(f"class number {i}" for i in range(args.classes))
    # Two descriptions per class: CoPrompt draws one index per step, HiCroPL averages them.
    classes = ClassSet(names, descriptions={n: [f"a photo of a {n}.", f"a {n} in the wild."] for n in names})
    rows = []
    for name in args.methods:
        row = measure(name, backbone, classes, args)
        rows.append(row)
        step = row["train_step_s"]
        print(
            f"{name:10s} trainable {row['trainable']:>12,d}   step {step['median']:.2f} s "
            f"(min {step['min']:.2f}, max {step['max']:.2f})",
            flush=True,
        )
    record = {
        "shapes": "ViT-B/16, 224 px",
        "classes": args.classes,
        "batch": args.batch,
        "threads": args.threads,
        "torch": torch.__version__,
        "machine": platform.processor() or platform.machine(),
        "rows": rows,
    }
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(record, handle, indent=2)


if __name__ == "__main__":
    main()
