"""Tables as markdown, CSV (long format) and JSON (LaTeX: :mod:`hicropl.results.render_latex`).

A cell is the mean over seeds ± their standard deviation; a single seed shows no spread (there is
none to show), and cells with fewer seeds than the table's most say how many. With a published value
beside it (``--compare paper``) a cell adds the paper's number and our difference from it.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Sequence
from typing import Any

from hicropl.results.tables import Cell, PaperComparison, Table

MISSING = "—"
COMPARE_NOTE = (
    "With the paper: (paper P, Δ D) gives the published value and ours minus it; *: |Δ| is more than two "
    "standard deviations over our seeds; ?: a single seed, so the spread is unknown."
)


def has_spread(cell: Cell) -> bool:
    """Whether the cell has a standard deviation over seeds (averages over datasets have none, one seed neither)."""
    return not math.isnan(cell.std) and cell.n > 1


def format_cell(cell: Cell | None, max_n: int, plus_minus: str = "±") -> str:
    if cell is None:
        return MISSING
    text = f"{cell.mean:.2f}"
    if math.isnan(cell.std):  # an average over datasets: n counts datasets, not seeds
        return text
    if cell.n > 1:
        text += f" {plus_minus} {cell.std:.2f}"
    if cell.n < max_n:
        text += f" (n={cell.n})"
    return text


def format_comparison(comparison: PaperComparison | None) -> str:
    if comparison is None:
        return ""
    return f" (paper {comparison.published:.2f}, Δ {comparison.difference:+.2f}{comparison.mark})"


def max_seeds(table: Table) -> int:
    return max((c.n for row in table.rows for c in row.cells if c is not None and not math.isnan(c.std)), default=0)


def markdown_text(text: str) -> str:
    """``text`` safe inside a Markdown table cell or list item: one line, pipes escaped."""
    return " ".join(text.split()).replace("|", "\\|")


def _paper(table: Table, row_index: int, column: int) -> PaperComparison | None:
    row = table.rows[row_index]
    return row.paper[column] if column < len(row.paper) else None


def seeds_note(max_n: int) -> str:
    if max_n <= 1:
        return f"{MISSING}: no result. One seed per cell, so no ± (no spread to show)."
    return f"{MISSING}: no result. Seeds per cell: {max_n} unless (n=...) says otherwise; one seed shows no ±."


def to_markdown(tables: Sequence[Table], problems: Sequence[str] = ()) -> str:
    if not tables:
        return "No finished runs found.\n" + "".join(f"\n- {markdown_text(p)}" for p in problems)
    out = []
    for table in tables:
        max_n = max_seeds(table)
        grouped = any(row.group for row in table.rows)
        header = (["Dataset"] if grouped else []) + ["Method", *table.columns]
        out.append(f"## {markdown_text(table.title)}\n")
        out.append("| " + " | ".join(markdown_text(h) for h in header) + " |")
        out.append("|" + "|".join(["---"] * len(header)) + "|")
        previous = None
        for index, row in enumerate(table.rows):
            lead = [row.group if row.group != previous else ""] if grouped else []
            previous = row.group
            cells = [
                format_cell(c, max_n) + format_comparison(_paper(table, index, i)) for i, c in enumerate(row.cells)
            ]
            out.append("| " + " | ".join(markdown_text(t) for t in [*lead, row.name, *cells]) + " |")
        notes = [*table.notes, seeds_note(max_n)]
        out.append("")
        out.extend(f"- {markdown_text(note)}" for note in notes)
        out.append("")
    if problems:
        out.append("## Skipped\n")
        out.extend(f"- {markdown_text(p)}" for p in problems)
        out.append("")
    return "\n".join(out)


def to_csv(tables: Sequence[Table]) -> str:
    """One line per cell; ``std`` is empty where there is no spread (one seed: ``n`` is 1; averages over
    datasets: ``n`` counts datasets); ``paper``, ``diff`` and ``flag`` are filled with ``--compare paper``."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["table", "group", "method", "column", "mean", "std", "n", "paper", "diff", "flag"])
    for table in tables:
        for index, row in enumerate(table.rows):
            for column, (name, cell) in enumerate(zip(table.columns, row.cells, strict=True)):
                paper = _paper(table, index, column)
                compared = (
                    ["", "", ""] if paper is None else [f"{paper.published:.2f}", f"{paper.difference:.4f}", paper.mark]
                )
                if cell is None:
                    writer.writerow([table.key, row.group, row.name, name, "", "", 0, *compared])
                else:
                    std = f"{cell.std:.4f}" if has_spread(cell) else ""
                    writer.writerow([table.key, row.group, row.name, name, f"{cell.mean:.4f}", std, cell.n, *compared])
    return buffer.getvalue()


def to_json(tables: Sequence[Table], problems: Sequence[str] = ()) -> str:
    def cell_json(cell: Cell | None, paper: PaperComparison | None) -> dict[str, Any] | None:
        if cell is None:
            return None
        data: dict[str, Any] = {"mean": cell.mean, "std": cell.std if has_spread(cell) else None, "n": cell.n}
        if paper is not None:
            data["paper"] = {"value": paper.published, "difference": paper.difference, "mark": paper.mark}
        return data

    data = {
        "tables": [
            {
                "key": t.key,
                "title": t.title,
                "columns": t.columns,
                "rows": [
                    {
                        "group": r.group,
                        "method": r.name,
                        "cells": [cell_json(c, _paper(t, i, j)) for j, c in enumerate(r.cells)],
                    }
                    for i, r in enumerate(t.rows)
                ],
                "notes": t.notes,
            }
            for t in tables
        ],
        "problems": list(problems),
    }
    return json.dumps(data, indent=2) + "\n"


def summary_rows(table: Table) -> list[dict[str, Any]]:
    """The rows of :func:`to_summary_markdown`, method by method: one per dataset (``n``: its seeds),
    then, over several datasets, the average (``dataset`` "Average", ``n``: the fewest seeds of its datasets).
    ``cells`` are the table's [Base, Novel, HM] cells."""
    blocks = [row for row in table.rows if not row.average]
    several = len({row.group for row in blocks}) > 1
    rows: list[dict[str, Any]] = []
    for method in dict.fromkeys(row.name for row in blocks):
        mine = [row for row in blocks if row.name == method]
        seeds = [row.cells[0].n if row.cells[0] is not None else 0 for row in mine]
        rows += [
            {"method": method, "dataset": row.group, "n": n, "cells": row.cells}
            for row, n in zip(mine, seeds, strict=True)
        ]
        average = [row for row in table.rows if row.average and row.name.removesuffix(" †") == method]
        if several and average:
            n = min((s for s in seeds if s), default=0)
            rows.append({"method": average[0].name, "dataset": "Average", "n": n, "cells": average[0].cells})
    return rows


def to_summary_markdown(table: Table) -> str:
    """A short base-to-novel table (``hicropl demo`` prints it): Dataset, Method, Seeds, Base, Novel, HM,
    one decimal, ± the std over seeds where it is not 0, HM of the mean Base and Novel; the average last."""

    def short(cell: Cell | None, with_std: bool = True) -> str:
        if cell is None:
            return MISSING
        if not with_std or math.isnan(cell.std) or cell.std == 0:
            return f"{cell.mean:.1f}"
        return f"{cell.mean:.1f} ± {cell.std:.1f}"

    rows = summary_rows(table)
    lines = ["| Dataset | Method | Seeds | Base | Novel | HM |", "|---|---|---|---|---|---|"]
    for dataset in dict.fromkeys(row["dataset"] for row in rows):
        for row in (r for r in rows if r["dataset"] == dataset):
            base, novel, hm = row["cells"]
            cells = f"{short(base)} | {short(novel)} | {short(hm, with_std=False)}"
            lines.append(f"| {dataset} | {row['method']} | {row['n']} | {cells} |")
    return "\n".join(lines)
