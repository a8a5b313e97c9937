"""Argument parsers and handlers for ``hicropl toyworld pretrain`` and ``hicropl demo``.

``hicropl.cli`` wires them in with::

    from hicropl.toyworld import cli as toyworld_cli
    toyworld_cli.add_toyworld_parser(subparsers)   # hicropl toyworld pretrain ...
    toyworld_cli.add_demo_parser(subparsers)       # hicropl demo ...

Each handler takes the parsed ``argparse.Namespace`` and returns an exit code.
"""

from __future__ import annotations

import argparse
from typing import Any


def add_pretrain_arguments(parser: argparse.ArgumentParser) -> None:
    from hicropl.toyworld.pretrain import PretrainSettings

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
    from hicropl.toyworld.demo import ALL_METHODS, EXTRA_METHODS, DemoSettings

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
    """``hicropl toyworld pretrain``: pretrain the tiny ToyWorld CLIP (resumable)."""
    toyworld = subparsers.add_parser("toyworld", help="ToyWorld: the built-in procedural world and its tiny CLIP")
    commands = toyworld.add_subparsers(dest="toyworld_command", required=True)
    pretrain = commands.add_parser(
        "pretrain",
        help="pretrain the tiny ToyWorld CLIP contrastively (resumes an interrupted run in --output)",
    )
    add_pretrain_arguments(pretrain)
    pretrain.set_defaults(handler=cmd_pretrain)
    return toyworld


def add_demo_parser(subparsers: Any) -> argparse.ArgumentParser:
    """``hicropl demo``: zero-shot, CoOp and HiCroPL base-to-novel on ToyWorld in minutes on a CPU."""
    demo = subparsers.add_parser("demo", help="base-to-novel prompt learning on ToyWorld, on a CPU in minutes")
    add_demo_arguments(demo)
    demo.set_defaults(handler=cmd_demo)
    return demo
