"""``hicropl info``: describe CLIP weights, or list methods, datasets and protocols."""

from __future__ import annotations

import argparse
from typing import Any

from hicropl.cli.common import ENV_CLIP, add_clip, env_or, examples, subcommand


def add_parsers(sub: Any) -> None:
    info = subcommand(
        sub,
        "info",
        "describe CLIP weights, or list methods, datasets and protocols",
        examples("hicropl info --clip ~/weights/ViT-B-16.pt", "hicropl info"),
    )
    add_clip(info)
    info.set_defaults(handler=cmd_info)


def cmd_info(args: argparse.Namespace) -> int:
    clip = env_or(args.clip, ENV_CLIP)
    if clip:
        import torch

        from hicropl.engine.backbone import load_backbone

        print(load_backbone(clip, torch.device("cpu")).summary())
        return 0
    from hicropl.data.protocols import list_protocols
    from hicropl.data.registry import list_datasets
    from hicropl.methods.base import list_methods

    print("methods:   " + ", ".join(list_methods()))
    print("datasets:  " + ", ".join(list_datasets()))
    print("protocols: " + ", ".join(list_protocols()))
    return 0
