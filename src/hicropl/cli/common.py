"""Pieces every ``hicropl`` subcommand shares: help layout, the common flags, env defaults, run configs."""

from __future__ import annotations

import argparse
import dataclasses
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
        help=f"CLIP weights: a checkpoint file (e.g. ViT-B-16.pt), an open_clip tag (ViT-B-16:openai) or "
        f"toyworld (the shipped tiny ToyWorld CLIP); "
        f"default: ${ENV_CLIP}{required_note}",
    )


def add_data_root(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data-root", default=None, help=f"folder holding the dataset folders; default: ${ENV_DATA}")


def add_run_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config",
        help="a run config: a YAML file, or a shipped name such as hicropl/base2novel; flags and --set override it",
    )
    parser.add_argument("--dataset", help="dataset name, e.g. EuroSAT, oxford_pets, imagenet")
    parser.add_argument("--protocol", help="base2novel, fewshot, cross_dataset or domain_generalization")
    parser.add_argument(
        "--shots",
        type=int,
        help="training images per class (0: all); a class with fewer is an error unless "
        "--set data.shots_policy=available",
    )
    parser.add_argument(
        "--seed", type=seed_value, help="random seed, 0 to 4294967295 = 2**32 - 1 (the paper uses 1, 2, 3)"
    )
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
    add_set_flag(parser, "optim.lr=0.001")
    add_fallback_flags(parser)
    parser.add_argument("--overwrite", action="store_true", help="replace a finished run in --output")
    parser.add_argument("--quiet", action="store_true", help="no progress bars or console log (log.txt is kept)")


def seed_value(text: str) -> int:
    """``--seed``: a whole number in the range every RNG the library seeds accepts (see MAX_SEED)."""
    from hicropl.engine.run_config import MAX_SEED

    try:
        seed = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number; pass e.g. --seed 1") from None
    if not 0 <= seed <= MAX_SEED:
        raise argparse.ArgumentTypeError(f"{text} is out of range; pass a seed from 0 to {MAX_SEED}")
    return seed


def add_set_flag(parser: argparse.ArgumentParser, example: str) -> None:
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help=f"override a config field, e.g. --set {example} (repeatable)",
    )


def add_fallback_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--skip-corrupt-images",
        action="store_true",
        help="replace images that cannot be decoded by the next valid one and count them, instead of stopping "
        "(train.skip_corrupt=true)",
    )
    parser.add_argument(
        "--description-fallback",
        action="store_true",
        help="classes without an LLM description get CLIP's template ensemble as frozen text, instead of an "
        "error (method.description_fallback=true; methods with descriptions, e.g. hicropl)",
    )


def fallback_overrides(args: argparse.Namespace) -> list[str]:
    """The ``--set`` forms of the fallback flags (empty when none was given)."""
    overrides = []
    if args.skip_corrupt_images:
        overrides.append("train.skip_corrupt=true")
    if args.description_fallback:
        overrides.append("method.description_fallback=true")
    return overrides


def check_description_fallback(args: argparse.Namespace, method_name: str, method_config: Any) -> None:
    """``--description-fallback`` names the option of methods that read LLM descriptions; others lack it."""
    if args.description_fallback and not hasattr(method_config, "description_fallback"):
        raise usage_error(
            f"--description-fallback is an option of methods whose frozen text comes from LLM descriptions "
            f"(e.g. hicropl); {method_name} has none: drop the flag."
        )


def check_run_fallbacks(args: argparse.Namespace) -> None:
    """The same check for eval and predict, against the run's recorded method."""
    if args.description_fallback:
        from hicropl.engine.restore import read_run_config
        from hicropl.results.run_folder import RunFolder

        config = read_run_config(RunFolder.at(args.run), args.overrides)
        check_description_fallback(args, config.method_name, config.method)


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

    skip = ["train.skip_corrupt=true"] if args.skip_corrupt_images else []
    config = load_run_config(args.config, run_flags(args, method), [*extra, *args.overrides, *skip])
    check_description_fallback(args, config.method_name, config.method)
    if args.description_fallback:
        config.method = dataclasses.replace(config.method, **{"description_fallback": True})
    return with_env_defaults(config)


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
