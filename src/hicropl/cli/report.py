"""``hicropl report``: tables (and plots) from run folders."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from hicropl.cli.common import examples, subcommand, usage_error


def add_parsers(sub: Any) -> None:
    report = subcommand(
        sub,
        "report",
        "aggregate run folders over seeds into the paper's tables",
        examples(
            "hicropl report runs/                              # markdown on stdout",
            "hicropl report runs/base2novel runs/fewshot --output reports/ --format md csv json",
            "hicropl report runs/ --output reports/ --plots   # needs pip install 'hicropl[plots]'",
        ),
    )
    report.add_argument("runs", nargs="*", default=["runs"], help="run folders or folders containing them")
    report.add_argument("--output", help="write report.md/.csv/.json (and plots) into this folder")
    report.add_argument("--format", nargs="+", choices=["md", "csv", "json"], default=["md", "csv", "json"])
    report.add_argument("--plots", action="store_true", help="few-shot curves and base/novel bars (matplotlib)")
    report.set_defaults(handler=cmd_report)


def cmd_report(args: argparse.Namespace) -> int:
    from hicropl.results.report import make_report

    if args.output and Path(args.output).expanduser().exists() and not Path(args.output).expanduser().is_dir():
        raise usage_error(
            f"--output {args.output} is a file; --output names a folder that report.md/.csv/.json go into: "
            "pass a folder (it is created if missing)."
        )
    report = make_report(args.runs, args.output, args.format, args.plots)
    if args.output:
        for file in report.files:
            print(file)
        print(f"{report.runs} runs, {len(report.tables)} tables")
    else:
        print(report.markdown())
    for problem in report.problems:
        print(f"warning: {problem}", file=sys.stderr)
    return 0
