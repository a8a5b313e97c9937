"""Pieces every ``hicropl`` subcommand shares: help layout, the common flags, env defaults, run configs."""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence
from typing import Any

from hicropl.errors import HicroplError

ENV_CLIP = "HICROPL_CLIP"
ENV_DATA = "HICROPL_DATA"


def examples(*lines: str) -> str:
    return "examples:\n" + "\n".join(f"  {line}" for line in lines)


def subcommand(subparsers: Any, name: str, help_text: str, epilog: str) -> argparse.ArgumentParser:
    return subparsers.add_parser(
        name,
        help=help_text,
        description=help_text,
        epilog=epilog,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )


def add_clip(parser: argparse.ArgumentParser, required_note: str = "") -> None:
    parser.add_argument(
        "--clip",
        default=None,
        help=f"CLIP weights: a checkpoint file (e.g. ViT-B-16.pt) or an open_clip tag (ViT-B-16:openai); "
        f"default: ${ENV_CLIP}{required_note}",
    )


def add_data_root(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data-root", default=None, help=f"folder holding the dataset folders; default: ${ENV_DATA}")


def add_run_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", help="a run config YAML (see configs/); flags and --set override it")
    parser.add_argument("--dataset", help="dataset name, e.g. EuroSAT, oxford_pets, imagenet")
    parser.add_argument("--protocol", help="base2novel, fewshot, cross_dataset or domain_generalization")
    parser.add_argument("--shots", type=int, help="training images per class (0: all)")
    parser.add_argument("--seed", type=int, help="random seed (the paper uses 1, 2, 3)")
    add_data_root(parser)
    add_clip(parser)
    parser.add_argument(
        "--output", help="the run folder (default: runs/<protocol>/<label or method>/<dataset>/shots_K/seed_S)"
    )
    parser.add_argument("--device", help="auto (default), cpu, cuda or cuda:N")
    parser.add_argument(
        "--precision",
        choices=["auto", "fp32", "bf16", "fp16"],
        help="auto (default): bf16 on a GPU that has it, else fp32; bf16 also runs on the CPU; fp16 is GPU-only",
    )
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config field, e.g. --set optim.lr=0.001 (repeatable)",
    )
    parser.add_argument("--overwrite", action="store_true", help="replace a finished run in --output")
    parser.add_argument("--quiet", action="store_true", help="no progress bars or console log (log.txt is kept)")


def env_or(value: str | None, name: str) -> str | None:
    return value if value else os.environ.get(name) or None


def run_flags(args: argparse.Namespace, method: str | None) -> dict[str, Any]:
    return {
        "method.name": method,
        "data.dataset": args.dataset,
        "data.protocol": args.protocol,
        "data.shots": args.shots,
        "seed": args.seed,
        "data.root": args.data_root,
        "clip": args.clip,
        "train.device": args.device,
        "train.precision": args.precision,
    }


def run_config(args: argparse.Namespace, method: str | None, extra: Sequence[str] = ()) -> Any:
    from hicropl.engine.run_config import load_run_config

    return with_env_defaults(load_run_config(args.config, run_flags(args, method), [*extra, *args.overrides]))


def with_env_defaults(config: Any) -> Any:
    # Environment defaults fill only what neither the config file nor a flag gave.
    if not config.clip and os.environ.get(ENV_CLIP):
        config.clip = os.environ[ENV_CLIP]
    if not config.data.root and os.environ.get(ENV_DATA):
        config.data.root = os.environ[ENV_DATA]
    return config


def usage_error(message: str) -> HicroplError:
    from hicropl.errors import ConfigError

    return ConfigError(message)
