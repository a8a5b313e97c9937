"""Argument parsers and handlers for ``hicropl toyworld prepare|pretrain`` and ``hicropl demo``.

``hicropl.cli`` wires them in with::

    from hicropl.toyworld import cli as toyworld_cli
    toyworld_cli.add_toyworld_parser(subparsers)   # hicropl toyworld prepare|pretrain ...
    toyworld_cli.add_demo_parser(subparsers)       # hicropl demo ...

Each handler takes the parsed ``argparse.Namespace`` and returns an exit code. Building the parsers
imports neither torch nor the engine (``hicropl --help`` stays quick).
"""

from __future__ import annotations

import argparse
import textwrap
from typing import Any


def _examples(*lines: str) -> str:
    return "examples:\n" + "\n".join(f"  {line}" for line in lines)


def add_prepare_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data-root", required=True, help="folder that receives the dataset folders (created if missing)"
    )
    parser.add_argument(
        "--datasets", nargs="+", default=None, help="ToyWorldShapes and/or ToyWorldGlyphs (default: both)"
    )


def cmd_prepare(args: argparse.Namespace) -> int:
    from hicropl.data.toyworld.datasets import prepare_datasets

    for folder in prepare_datasets(args.data_root, args.datasets):
        print(folder)
    return 0


def add_pretrain_arguments(parser: argparse.ArgumentParser) -> None:
    from hicropl.toyworld.pretrain_settings import PretrainSettings

    defaults = PretrainSettings()
    parser.add_argument("--output", required=True, help="folder for the checkpoint, the weights and pretrain.json")
    parser.add_argument("--steps", type=int, default=defaults.steps, help="optimiser steps (default %(default)s)")
    parser.add_argument("--seed", type=int, default=defaults.seed, help="seed of data and init (default %(default)s)")
    parser.add_argument("--batch-size", type=int, default=defaults.batch_size, help="default %(default)s")
    parser.add_argument(
        "--pool-size", type=int, default=defaults.pool_size, help="rendered scenes (default %(default)s)"
    )
    parser.add_argument("--lr", type=float, default=defaults.lr, help="peak learning rate (default %(default)s)")
    parser.add_argument("--checkpoint-every", type=int, default=250, help="steps between checkpoints")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def cmd_pretrain(args: argparse.Namespace) -> int:
    from hicropl.toyworld.pretrain import pretrain

    weights = pretrain(
        args.output,
        steps=args.steps,
        seed=args.seed,
        batch_size=args.batch_size,
        pool_size=args.pool_size,
        lr=args.lr,
        checkpoint_every=args.checkpoint_every,
        progress=not args.quiet,
    )
    from hicropl.clip.weights_file import file_sha256

    print(f"{weights}  sha256 {file_sha256(weights)}")
    return 0


def add_demo_arguments(parser: argparse.ArgumentParser) -> None:
    from hicropl.toyworld.demo_settings import ALL_METHODS, EXTRA_METHODS, DemoSettings

    defaults = DemoSettings()
    parser.add_argument("--output", default="runs/demo", help="folder for the runs and the table (default %(default)s)")
    parser.add_argument(
        "--shots", type=int, default=defaults.shots, help="K shots per base class (default %(default)s)"
    )
    parser.add_argument("--seeds", type=int, nargs="+", default=list(defaults.seeds), help="default %(default)s")
    parser.add_argument("--epochs", type=int, default=defaults.epochs, help="default %(default)s")
    parser.add_argument("--datasets", nargs="+", default=None, help="ToyWorld datasets (default: all)")
    parser.add_argument(
        "--methods", nargs="+", default=None, choices=ALL_METHODS + EXTRA_METHODS, help="default: all available"
    )
    parser.add_argument("--data-root", default=None, help="where the datasets are generated (default OUTPUT/data)")
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda")
    parser.add_argument("--overwrite", action="store_true", help="replace a previous demo in --output")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def cmd_demo(args: argparse.Namespace) -> int:
    from hicropl.toyworld.demo import run_demo

    run_demo(
        args.output,
        shots=args.shots,
        seeds=args.seeds,
        epochs=args.epochs,
        datasets=args.datasets,
        methods=args.methods,
        data_root=args.data_root,
        device=args.device,
        overwrite=args.overwrite,
        progress=not args.quiet,
    )
    return 0


def add_toyworld_parser(subparsers: Any) -> argparse.ArgumentParser:
    """``hicropl toyworld prepare|pretrain``: write the ToyWorld datasets; pretrain the tiny CLIP."""
    description = (
        "ToyWorld, the procedural world shipped with hicropl: two downstream datasets (ToyWorldShapes, "
        "ToyWorldGlyphs) generated on your machine, and a tiny CLIP pretrained on the world (--clip toyworld)."
    )
    toyworld = subparsers.add_parser(
        "toyworld",
        help="ToyWorld: the built-in procedural world, its datasets and its tiny CLIP",
        description=textwrap.fill(description, 100),
        epilog=_examples(
            "hicropl toyworld prepare --data-root ~/data",
            "hicropl train --config toyworld/hicropl --dataset ToyWorldShapes --seed 1 --data-root ~/data "
            "--clip toyworld",
            "hicropl toyworld pretrain --output runs/toyworld_pretrain --steps 4000 --seed 0",
            "hicropl toyworld <command> --help",
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = toyworld.add_subparsers(dest="toyworld_command", metavar="command", required=True)
    prepare_help = "write the ToyWorld datasets into a data root (seconds; reuses a current copy)"
    prepare = commands.add_parser(
        "prepare",
        help=prepare_help,
        description=textwrap.fill(
            prepare_help + ". They are then ordinary datasets: train, zero-shot, eval and report use them with "
            "--data-root.",
            100,
        ),
        epilog=_examples(
            "hicropl toyworld prepare --data-root ~/data",
            "hicropl toyworld prepare --data-root ~/data --datasets ToyWorldGlyphs",
            "hicropl zero-shot --dataset ToyWorldShapes --protocol base2novel --data-root ~/data --clip toyworld",
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_prepare_arguments(prepare)
    prepare.set_defaults(handler=cmd_prepare)
    pretrain_help = "pretrain the tiny ToyWorld CLIP contrastively (resumes an interrupted run in --output)"
    pretrain = commands.add_parser(
        "pretrain",
        help=pretrain_help,
        description=textwrap.fill(
            pretrain_help + ". Prints the weights file and its SHA-256; pass the file to --clip. The shipped "
            "weights (--clip toyworld) came from the first example.",
            100,
        ),
        epilog=_examples(
            "hicropl toyworld pretrain --output runs/toyworld_pretrain --steps 4000 --seed 0",
            "hicropl toyworld pretrain --output runs/tw_short --steps 200 --pool-size 5000   # a quick try",
            "hicropl zero-shot --dataset ToyWorldShapes --data-root ~/data "
            "--clip runs/toyworld_pretrain/toyworld_clip.safetensors",
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_pretrain_arguments(pretrain)
    pretrain.set_defaults(handler=cmd_pretrain)
    return toyworld


def add_demo_parser(subparsers: Any) -> argparse.ArgumentParser:
    """``hicropl demo``: zero-shot, CoOp and HiCroPL base-to-novel on ToyWorld in minutes on a CPU."""
    demo_help = "base-to-novel prompt learning on ToyWorld, on a CPU in minutes"
    demo = subparsers.add_parser(
        "demo",
        help=demo_help,
        description=textwrap.fill(
            demo_help + ": zero-shot CLIP, CoOp and HiCroPL trained on the shipped tiny CLIP, a Base / Novel / HM "
            "table at the end. Each run is an ordinary run folder; the demo prints the hicropl train command "
            "behind each. Rerun the same command to resume an interrupted demo.",
            100,
        ),
        epilog=_examples(
            "hicropl demo",
            "hicropl demo --output runs/demo3 --seeds 1 2 3 --methods zeroshot coop hicropl-paper",
            "hicropl report runs/demo/runs",
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_demo_arguments(demo)
    demo.set_defaults(handler=cmd_demo)
    return demo
