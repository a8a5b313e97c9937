"""``hicropl report``: run folders -> the paper's tables (markdown, CSV, JSON, LaTeX) and optional plots."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from hicropl.atomic import atomic_write_text
from hicropl.errors import ConfigError, DataError
from hicropl.results.paper import PaperCell
from hicropl.results.record import find_runs
from hicropl.results.render import to_csv, to_json, to_markdown
from hicropl.results.render_latex import to_latex
from hicropl.results.run_status import find_run_folders
from hicropl.results.tables import Table, build_tables

FORMATS = ("md", "csv", "json")
ALL_FORMATS = (*FORMATS, "latex")
COMPARE_WITH = ("paper",)
_SUFFIX = {"md": "md", "csv": "csv", "json": "json", "latex": "tex"}


@dataclass
class Report:
    tables: list[Table]
    problems: list[str]
    runs: int
    files: list[Path] = field(default_factory=list)

    bold_best: bool = False

    def markdown(self) -> str:
        return to_markdown(self.tables, self.problems)

    def render(self, fmt: str) -> str:
        """The report in one of :data:`ALL_FORMATS`."""
        if fmt == "md":
            return to_markdown(self.tables, self.problems)
        if fmt == "csv":
            return to_csv(self.tables)
        if fmt == "json":
            return to_json(self.tables, self.problems)
        if fmt == "latex":
            return to_latex(self.tables, self.problems, self.bold_best)
        raise ConfigError(f"Unknown report format {fmt!r}; choose from {', '.join(ALL_FORMATS)}.")


def make_report(
    roots: Iterable[str | Path],
    output: str | Path | None = None,
    formats: Sequence[str] = FORMATS,
    plots: bool = False,
    compare: str | None = None,
    paper_cells: Sequence[PaperCell] | None = None,
    bold_best: bool = False,
) -> Report:
    """Aggregate the finished runs under ``roots``; with ``output``, write report.<fmt> (and plots) there.

    ``compare="paper"`` puts the published numbers (``paper_cells``, default: those shipped with the
    library) beside ours. Raises DataError where ``roots`` hold no run folder at all."""
    if compare is not None and compare not in COMPARE_WITH:
        raise ConfigError(f"--compare {compare}: only {', '.join(COMPARE_WITH)} is known.")
    folders = [Path(root).expanduser() for root in roots]
    runs, problems = find_runs(folders)
    if not runs and not any(f.exists() and find_run_folders(f) for f in folders):
        where = ", ".join(str(folder.resolve()) for folder in folders) or "(no folder given)"
        raise DataError(f"No run folders found in {where} (a run folder holds result.json or config.yaml).")
    tables = build_tables(runs, problems)
    if compare is not None:
        from hicropl.results.compare import compare_with_paper

        compare_with_paper(tables, runs, paper_cells)
    report = Report(tables, problems, len(runs), bold_best=bold_best)
    if output is None:
        return report
    folder = Path(output).expanduser()
    folder.mkdir(parents=True, exist_ok=True)
    for fmt in formats:
        path = folder / f"report.{_SUFFIX[fmt]}"
        atomic_write_text(path, report.render(fmt))
        report.files.append(path)
    if plots:
        from hicropl.results.plots import base_novel_plot, few_shot_plot

        for table in tables:
            if table.key == "fewshot":
                report.files.append(few_shot_plot(table, folder / "fewshot.png"))
            elif table.key == "base2novel":
                report.files.append(base_novel_plot(table, folder / "base2novel.png"))
    return report
