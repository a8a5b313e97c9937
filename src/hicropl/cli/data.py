"""``hicropl data``: dataset tools."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from hicropl.cli.common import ENV_DATA, add_data_root, env_or, examples, subcommand, usage_error


def add_parsers(sub: Any) -> None:
    data = subcommand(
        sub,
        "data",
        "dataset tools",
        examples(
            "hicropl data check --data-root ~/data",
            "hicropl data check --data-root ~/data --dataset EuroSAT",
            "hicropl data check --dataset folder:~/my_photos",
            "hicropl data prepare imagenet --data-root ~/data --labels LOC_val_solution.csv",
        ),
    )
    data_sub = data.add_subparsers(dest="data_command", metavar="command")
    data_sub.required = True
    check = subcommand(
        data_sub,
        "check",
        "check dataset folders, split files and images under a data root",
        examples(
            "hicropl data check --data-root ~/data",
            "hicropl data check --data-root ~/data --dataset dtd",
            "hicropl data check --dataset folder:~/my_photos     # your own data needs no data root",
        ),
    )
    add_data_root(check)
    # The flag's old name, kept working for existing scripts (it warns); not shown in --help.
    check.add_argument("--root", dest="deprecated_root", default=None, help=argparse.SUPPRESS)
    check.add_argument("--dataset", help="check only this dataset (also folder:PATH or csv:FILE)")
    check.add_argument(
        "--decode", action="store_true", help="decode every image to find corrupt ones (slow; counts progress)"
    )
    check.set_defaults(handler=cmd_data_check)

    prepare = subcommand(
        data_sub,
        "prepare",
        "put a downloaded dataset into the layout hicropl reads (ImageNet's validation images into wnid folders)",
        examples(
            "hicropl data prepare imagenet --data-root ~/data --labels LOC_val_solution.csv",
            "hicropl data prepare imagenet --data-root ~/data --labels ILSVRC2012_validation_ground_truth.txt \\\n"
            "      --meta ILSVRC2012_devkit_t12/data/meta.mat --move",
        ),
    )
    prepare.add_argument("dataset", choices=["imagenet"], help="the dataset to prepare")
    add_data_root(prepare)
    prepare.add_argument(
        "--labels",
        required=True,
        help="the ground truth: Kaggle's LOC_val_solution.csv or the devkit's ILSVRC2012_validation_ground_truth.txt",
    )
    prepare.add_argument(
        "--meta",
        help="with the devkit's ground truth: its meta.mat (needs scipy) or a text file of "
        "'<ILSVRC2012_ID> <wnid>' lines (default: meta.mat beside --labels)",
    )
    prepare.add_argument("--move", action="store_true", help="move the images instead of linking them (symlinks)")
    prepare.set_defaults(handler=cmd_data_prepare)


def cmd_data_check(args: argparse.Namespace) -> int:
    from hicropl.data.check import run_data_check
    from hicropl.data.registry import get_dataset_spec, needs_data_root

    if args.deprecated_root:
        print("warning: `data check --root` is deprecated; use --data-root", file=sys.stderr)
    root = env_or(args.data_root or args.deprecated_root, ENV_DATA)
    if not root and args.dataset and not needs_data_root(args.dataset):
        root = str(get_dataset_spec(args.dataset).dataset_dir("."))  # the user's own data is found by its path
    if not root:
        raise usage_error(f"data check needs --data-root DIR (the folder holding the datasets) or ${ENV_DATA}")
    return run_data_check(root, args.dataset, decode=args.decode)


def cmd_data_prepare(args: argparse.Namespace) -> int:
    from hicropl.data.check import run_data_check
    from hicropl.data.prepare_imagenet import format_prepare_report, prepare_imagenet

    root = env_or(args.data_root, ENV_DATA)
    if not root:
        raise usage_error(f"data prepare needs --data-root DIR (the folder holding the datasets) or ${ENV_DATA}")
    report = prepare_imagenet(root, args.labels, args.meta, args.move)
    print(format_prepare_report(report, args.move))
    print()
    code = run_data_check(root, "ImageNet")
    return 1 if report.missing else code
