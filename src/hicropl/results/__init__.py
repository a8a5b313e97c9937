"""Run records (result.json), aggregation over seeds, the paper's tables and plots."""

from hicropl.results.record import RunRecord, evaluation_name, find_runs, harmonic_mean, mean_std, read_run
from hicropl.results.report import Report, make_report
from hicropl.results.run_folder import RunFolder
from hicropl.results.tables import Cell, Row, Table, build_tables

__all__ = [
    "Cell",
    "Report",
    "Row",
    "RunFolder",
    "RunRecord",
    "Table",
    "build_tables",
    "evaluation_name",
    "find_runs",
    "harmonic_mean",
    "make_report",
    "mean_std",
    "read_run",
]
