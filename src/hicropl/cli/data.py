"""``hicropl data``: dataset tools."""

from __future__ import annotations

import argparse
from typing import Any

from hicropl.cli.common import ENV_DATA, env_or, examples, subcommand, usage_error


def add_parsers(sub: Any) -> None:
    data = subcommand(
        sub,
        "data",
        "dataset tools",
        examples("hicropl data check --root ~/data", "hicropl data check --root ~/data --dataset EuroSAT"),
    )
    data_sub = data.add_subparsers(dest="data_command", metavar="command")
    data_sub.required = True
    check = subcommand(
        data_sub,
        "check",
        "check dataset folders, split files and images under a data root",
        examples(
            "hicropl data check --root ~/data",
            "hicropl data check --root ~/data --dataset dtd --decode   # also decode every image",
        ),
    )
    check.add_argument("--root", default=None, help=f"the data root (default: ${ENV_DATA})")
    check.add_argument("--dataset", help="check only this dataset")
    check.add_argument(
        "--decode", action="store_true", help="decode every image to find corrupt ones (slow; counts progress)"
    )
    check.set_defaults(handler=cmd_data_check)


def cmd_data_check(args: argparse.Namespace) -> int:
    from hicropl.data.check import run_data_check

    root = env_or(args.root, ENV_DATA)
    if not root:
        raise usage_error(f"data check needs --root DIR (the folder holding the datasets) or ${ENV_DATA}")
    return run_data_check(root, args.dataset, decode=args.decode)
