"""``--compare paper``: the published value beside each of our cells, our difference, and a mark.

Our tables map onto the paper's: base-to-novel -> Table 1 (Base, Novel, HM at 16 shots), few-shot ->
Table 14 (accuracy per K), cross-dataset -> Table 2, domain generalisation -> Table 3 (accuracy).
A row is compared only where every run in it is the faithful configuration of a method the paper
reports (:data:`~hicropl.results.paper.PAPER_ROW_OF_METHOD`): no label, HiCroPL's ``paper`` variant,
zero-shot CLIP with the dataset's template prompts, no other variant for the others. Rows that are
not get no published value, and a note says why, rather than a misleading comparison.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence

from hicropl.data.protocols import RECOGNITION_DATASETS
from hicropl.results.paper import PAPER_ROW_OF_METHOD, PaperCell, paper_cells
from hicropl.results.record import RunRecord
from hicropl.results.render import COMPARE_NOTE
from hicropl.results.run_identity import flatten
from hicropl.results.tables import TRANSFER_PROTOCOLS, Cell, PaperComparison, Row, Table

PAPER_TABLE_OF_PROTOCOL = {"base2novel": "1", "fewshot": "14", "cross_dataset": "2", "domain_generalization": "3"}
BASE_TO_NOVEL_SHOTS = 16  # the paper's Table 1 trains on 16 shots per base class
TRANSFER_SHOTS: int | None = None  # the shots column of Tables 2 and 3 in the published-numbers file
PAPER_AVERAGE = "Average"
# The datasets the paper averages over: Tables 1 and 14 over the 11 recognition datasets, Table 2
# over the 10 targets after ImageNet, Table 3 over the 4 ImageNet variants.
_AVERAGED = {"1": RECOGNITION_DATASETS, "14": RECOGNITION_DATASETS}
_METRIC_OF_COLUMN = {"Base": "base", "Novel": "novel", "HM": "hm"}

CellKey = tuple[str, str, str, str, int | None]


def paper_row_of(run: RunRecord) -> tuple[str | None, str]:
    """The paper's row for ``run``, or None and why it has none."""
    if run.run_label:
        return None, f"labelled {run.run_label!r}"
    row = PAPER_ROW_OF_METHOD.get(run.method)
    if row is None:
        return None, f"the paper has no {run.method} row"
    if run.method == "hicropl" and run.variant != "paper":
        return None, f"variant {run.variant!r}, not the paper's"
    if run.method != "hicropl" and run.variant:
        return None, f"variant {run.variant!r}"
    if run.method == "zeroshot":
        prompts = flatten(run.config or {}).get("method.prompts", "dataset")
        if prompts != "dataset":
            return None, f"prompts={prompts}, not the dataset templates"
    if run.protocol == "base2novel" and run.shots != BASE_TO_NOVEL_SHOTS:
        return None, f"{run.shots} shots, not {BASE_TO_NOVEL_SHOTS}"
    return row, ""


def _family(protocol: str) -> str:
    """Transfer tables (cross-dataset and domain generalisation) are built from runs of either protocol."""
    return "transfer" if protocol in TRANSFER_PROTOCOLS else protocol


def _rows_of_runs(runs: Iterable[RunRecord]) -> dict[tuple[str, str], tuple[str | None, str]]:
    """(protocol family, row name) -> the paper row all its runs map to, or None and the first reason one does not."""
    found: dict[tuple[str, str], list[tuple[str | None, str]]] = defaultdict(list)
    for run in runs:
        found[(_family(run.protocol), run.label)].append(paper_row_of(run))
    mapping: dict[tuple[str, str], tuple[str | None, str]] = {}
    for key, rows in found.items():
        names = {name for name, _ in rows}
        reasons = [reason for name, reason in rows if name is None]
        if reasons:
            mapping[key] = (None, reasons[0])
        elif len(names) == 1:
            mapping[key] = (names.pop(), "")
        else:
            mapping[key] = (None, "its runs map to several of the paper's rows")
    return mapping


def _index(cells: Iterable[PaperCell]) -> dict[CellKey, float]:
    return {
        (c.table, c.method, c.dataset, c.metric, c.shots): c.value for c in cells if c.readable and c.value is not None
    }


def _comparison(ours: Cell | None, published: float | None) -> PaperComparison | None:
    if ours is None or published is None:
        return None
    difference = ours.mean - published
    if math.isnan(ours.std):  # an average over datasets: no spread over seeds to judge by
        mark = ""
    elif ours.n < 2:
        mark = "?"
    else:
        mark = "*" if abs(difference) > 2 * ours.std else ""
    return PaperComparison(published, difference, mark)


def _protocol(table: Table) -> str:
    return table.key.split(":", 1)[0]


def _average_dataset(table: Table, row: Row, paper_table: str) -> str | None:
    """``Average`` where our average covers the datasets the paper averages over, else None."""
    if row.name.endswith("†"):
        return None
    datasets = {r.group for r in table.rows if not r.average}
    return PAPER_AVERAGE if set(_AVERAGED.get(paper_table, ())) <= datasets else None


def _keys(table: Table, row: Row, paper_table: str, method: str) -> list[CellKey | None]:
    """The published cell each of the row's columns corresponds to."""
    protocol = _protocol(table)
    if protocol in ("base2novel", "fewshot"):
        dataset = _average_dataset(table, row, paper_table) if row.average else row.group
        if dataset is None:
            return [None] * len(table.columns)
        if protocol == "base2novel":
            return [(paper_table, method, dataset, _METRIC_OF_COLUMN[c], BASE_TO_NOVEL_SHOTS) for c in table.columns]
        return [(paper_table, method, dataset, "accuracy", int(c.split("=")[1])) for c in table.columns]
    keys: list[CellKey | None] = []
    for column in table.columns:
        if column == "Average":
            dataset = None if row.name.endswith("†") else PAPER_AVERAGE
        else:
            dataset = column.removesuffix(" (source)")
        keys.append(None if dataset is None else (paper_table, method, dataset, "accuracy", TRANSFER_SHOTS))
    return keys


def compare_with_paper(
    tables: Sequence[Table], runs: Sequence[RunRecord], cells: Sequence[PaperCell] | None = None
) -> None:
    """Fill each row's ``paper`` comparisons and add the tables' notes. ``runs`` are the runs the tables
    were built from (after :func:`~hicropl.results.tables.build_tables` named them); ``cells`` default
    to the published numbers shipped with the library."""
    published = _index(paper_cells() if cells is None else cells)
    rows_of_runs = _rows_of_runs(runs)
    for table in tables:
        paper_table = PAPER_TABLE_OF_PROTOCOL.get(_protocol(table))
        if paper_table is None:
            continue
        uncompared: dict[str, str] = {}
        for row in table.rows:
            name = row.name.removesuffix(" †")
            method, reason = rows_of_runs.get((_family(_protocol(table)), name), (None, "no runs"))
            if method is None:
                uncompared.setdefault(name, reason)
                row.paper = []
                continue
            keys = _keys(table, row, paper_table, method)
            row.paper = [
                _comparison(ours, None if key is None else published.get(key))
                for ours, key in zip(row.cells, keys, strict=True)
            ]
        table.notes.append(f"Paper: Table {paper_table} of the HiCroPL paper. {COMPARE_NOTE}")
        if uncompared:
            listed = "; ".join(f"{name} ({why})" for name, why in uncompared.items())
            table.notes.append(f"No published value for: {listed}.")
        if any(row.average for row in table.rows) and paper_table in _AVERAGED:
            table.notes.append(
                f"Averages are compared only where they cover the paper's {len(_AVERAGED[paper_table])} datasets."
            )
