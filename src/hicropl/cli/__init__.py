"""The ``hicropl`` command: train, zero-shot, import, eval, predict, report, sweep, data, info, demo, toyworld.

Each subcommand lives in its own module with an ``add_parsers(subparsers)`` and its handlers. Every
subcommand prints errors the library raises (HicroplError) as one line and exits with code 2; an
interrupted training run exits with 130 after writing a resumable checkpoint.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence

import hicropl
from hicropl.cli import data, evaluate, info, report, runs, sweep, train
from hicropl.cli.common import ENV_CLIP, ENV_DATA, examples
from hicropl.toyworld import cli as toyworld_cli

__all__ = ["ENV_CLIP", "ENV_DATA", "build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hicropl",
        description="Prompt learning on frozen CLIP: HiCroPL and baselines, the paper's protocols and tables.",
        epilog=examples(
            "hicropl train --config hicropl/base2novel --dataset EuroSAT --seed 1 \\",
            "    --data-root ~/data --clip ~/weights/ViT-B-16.pt",
            "hicropl report runs/ --output reports/",
            "hicropl <command> --help",
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"hicropl {hicropl.__version__}")
    sub = parser.add_subparsers(dest="command", metavar="command")
    sub.required = True

    for commands in (train, evaluate, report, runs, sweep, data, info):
        commands.add_parsers(sub)
    toyworld_cli.add_demo_parser(sub)
    toyworld_cli.add_toyworld_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    from hicropl.errors import exit_code_of

    parser = build_parser()
    args = parser.parse_args(list(argv) if argv is not None else None)
    handler: Callable[[argparse.Namespace], int] = args.handler
    return exit_code_of(lambda: handler(args))
