"""``hicropl runs`` (every run folder under a root, one line each) and ``hicropl show`` (one run)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from hicropl.cli.common import examples, subcommand


def add_parsers(sub: Any) -> None:
    runs = subcommand(
        sub,
        "runs",
        "list the run folders under a root: what each is, where it stands, its headline number",
        examples(
            "hicropl runs                    # under runs/",
            "hicropl runs ~/experiments/runs/base2novel",
        ),
    )
    runs.add_argument("root", nargs="?", default="runs", help="a folder of run folders (default: runs)")
    runs.set_defaults(handler=cmd_runs)

    show = subcommand(
        sub,
        "show",
        "summarise one run: settings that differ from the defaults, metrics, checkpoint, how to rerun it",
        examples("hicropl show runs/base2novel/hicropl-paper/EuroSAT/shots_16/seed_1"),
    )
    show.add_argument("run", help="a run folder")
    show.set_defaults(handler=cmd_show)


def cmd_runs(args: argparse.Namespace) -> int:
    from hicropl.errors import DataError
    from hicropl.results.run_list import format_runs, list_runs

    root = Path(args.root).expanduser()
    if not root.is_dir():
        raise DataError(f"{root} is not a folder; pass the folder that holds your run folders.")
    entries = list_runs(root)
    if not entries:
        raise DataError(f"No run folders found in {root.resolve()} (a run folder holds result.json or config.yaml).")
    print(format_runs(entries, root))
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    from hicropl.engine.run_summary import describe_run

    print(describe_run(args.run), end="")
    return 0
