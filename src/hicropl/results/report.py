"""``hicropl report``: run folders -> the paper's tables (markdown, CSV, JSON) and optional plots."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from hicropl.atomic import atomic_write_text
from hicropl.results.record import find_runs
from hicropl.results.render import to_csv, to_json, to_markdown
from hicropl.results.tables import Table, build_tables

FORMATS = ("md", "csv", "json")


@dataclass
class Report:
    tables: list[Table]
    problems: list[str]
    runs: int
    files: list[Path] = field(default_factory=list)

    def markdown(self) -> str:
        return to_markdown(self.tables, self.problems)


def make_report(
    roots: Iterable[str | Path],
    output: str | Path | None = None,
    formats: Sequence[str] = FORMATS,
    plots: bool = False,
) -> Report:
    """Aggregate the finished runs under ``roots``; with ``output``, write report.<fmt> (and plots) there."""
    runs, problems = find_runs(roots)
    tables = build_tables(runs, problems)
    report = Report(tables, problems, len(runs))
    if output is None:
        return report
    folder = Path(output).expanduser()
    folder.mkdir(parents=True, exist_ok=True)
    writers = {
        "md": lambda: to_markdown(tables, problems),
        "csv": lambda: to_csv(tables),
        "json": lambda: to_json(tables, problems),
    }
    for fmt in formats:
        path = folder / f"report.{fmt}"
        atomic_write_text(path, writers[fmt]())
        report.files.append(path)
    if plots:
        from hicropl.results.plots import base_novel_plot, few_shot_plot

        for table in tables:
            if table.key == "fewshot":
                report.files.append(few_shot_plot(table, folder / "fewshot.png"))
            elif table.key == "base2novel":
                report.files.append(base_novel_plot(table, folder / "base2novel.png"))
    return report
