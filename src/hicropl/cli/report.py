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
            "hicropl report runs/ --compare paper              # the published numbers beside ours",
            "hicropl report runs/ --format latex --bold-best   # booktabs tables for a paper",
        ),
    )
    report.add_argument("runs", nargs="*", default=["runs"], help="run folders or folders containing them")
    report.add_argument("--output", help="write report.md/.csv/.json/.tex (and plots) into this folder")
    report.add_argument(
        "--format",
        nargs="+",
        choices=["md", "csv", "json", "latex"],
        default=None,
        help="with --output: the files to write (default: md csv json); without: the one format to print (default: md)",
    )
    report.add_argument("--plots", action="store_true", help="few-shot curves and base/novel bars (matplotlib)")
    report.add_argument(
        "--compare",
        choices=["paper"],
        default=None,
        help="paper: the published value beside ours, with the difference and a mark beyond 2 std over seeds",
    )
    report.add_argument("--bold-best", action="store_true", help="LaTeX: the best mean of each column in bold")
    report.set_defaults(handler=cmd_report)


def cmd_report(args: argparse.Namespace) -> int:
    from hicropl.errors import ConfigError
    from hicropl.results.report import make_report

    if args.output and Path(args.output).expanduser().exists() and not Path(args.output).expanduser().is_dir():
        raise usage_error(
            f"--output {args.output} is a file; --output names a folder that report.md/.csv/.json go into: "
            "pass a folder (it is created if missing)."
        )
    formats = args.format or (["md", "csv", "json"] if args.output else ["md"])
    if not args.output and len(formats) > 1:
        raise ConfigError("Without --output the report prints one format; give one --format or add --output.")
    if args.plots and not args.output:
        raise ConfigError("--plots writes PNG files: add --output FOLDER.")
    report = make_report(args.runs, args.output, formats, args.plots, args.compare, bold_best=args.bold_best)
    if args.output:
        for file in report.files:
            print(file)
        print(f"{report.runs} runs, {len(report.tables)} tables, {len(report.problems)} skipped or noted")
    else:
        print(report.render(formats[0]), end="" if formats[0] != "md" else "\n")
    for problem in report.problems:
        print(f"warning: {problem}", file=sys.stderr)
    return 0
