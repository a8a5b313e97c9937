"""Prompted text encoder cost over real class names: length grouping, shared prefix, truncation.

``bench_step.py`` uses 50 class names of one length, where grouping sequences by length changes
nothing. Real datasets mix short and long names; this times HiCroPL's text side (prompt learner +
text encoder, forward and backward) over the class names of a shipped split (or ImageNet's 1000)
at ViT-B/16 text shapes, in four settings measured in the same process:

    python benchmarks/bench_text.py --dataset ImageNet --json benchmarks/results/bench_text_imagenet_cpu.json
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time

import torch

from hicropl.clip.encoders import TextPrompts
from hicropl.clip.random import VIT_B16_CONFIG, random_clip
from hicropl.data.resources import imagenet_classnames, load_split
from hicropl.methods import ClassSet, build_method
from timing import timed

SETTINGS = {
    "grouped (default)": {"share_prefix": True, "group_lengths": True, "truncate": True},
    "one group": {"share_prefix": True, "group_lengths": False, "truncate": True},
    "truncated, no prefix sharing": {"share_prefix": False, "group_lengths": False, "truncate": True},
    "full 77 tokens": {"share_prefix": False, "group_lengths": False, "truncate": False},
}


def class_names(dataset: str) -> list[str]:
    if dataset == "ImageNet":
        return [name for _, name in imagenet_classnames()]
    names = {int(label): cname for _, label, cname in load_split(dataset)["train"]}
    return [names[label] for label in sorted(names)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="ImageNet")
    parser.add_argument("--n-ctx", type=int, default=16)
    parser.add_argument("--depth", type=int, default=12)
    parser.add_argument("--boundary", type=int, default=6)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--skip", nargs="*", default=[], help="settings to leave out (slow ones)")
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    backbone = random_clip(VIT_B16_CONFIG, seed=0)
    names = tuple(class_names(args.dataset))
    classes = ClassSet(names, descriptions={n: [f"a photo of a {n}."] for n in names})
    config = {"n_ctx": args.n_ctx, "depth": args.depth, "boundary": args.boundary}
    method = build_method("hicropl", backbone, classes, config)
    encoder = backbone.text_encoder
    eot = method.tokenized_prompts.argmax(-1)

    def text() -> None:
        text_layers, _ = method.prompt_learner()
        backbone.encode_text(method.tokenized_prompts, TextPrompts(layers=text_layers)).sum().backward()

    results: dict[str, float] = {}
    for label, switches in SETTINGS.items():
        if label in args.skip:
            continue
        for key, value in switches.items():
            setattr(encoder, key, value)
        results[label] = statistics.median(timed(text, 1, args.reps))
        print(f"{label:32s} {results[label]:8.3f} s")
    for key, value in SETTINGS["grouped (default)"].items():
        setattr(encoder, key, value)
    output = {
        "text_forward_backward_s": results,
        "classes": len(names),
        "eot_positions": {"min": int(eot.min()), "median": float(eot.float().median()), "max": int(eot.max())},
        "setup": {
            **{k: v for k, v in vars(args).items() if k != "json"},
            "torch": torch.__version__,
            "machine": platform.machine(),
            "date": time.strftime("%Y-%m-%d"),
        },
    }
    print(json.dumps(output, indent=2))
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(output, handle, indent=2)


if __name__ == "__main__":
    main()
