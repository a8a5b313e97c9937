"""Tables as markdown, CSV (long format) and JSON."""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Sequence
from typing import Any

from hicropl.results.tables import Cell, Table

MISSING = "—"


def format_cell(cell: Cell | None, max_n: int) -> str:
    if cell is None:
        return MISSING
    text = f"{cell.mean:.2f}"
    if not math.isnan(cell.std):
        text += f" ± {cell.std:.2f}"
        if cell.n < max_n:
            text += f" (n={cell.n})"
    return text


def _max_seeds(table: Table) -> int:
    return max((c.n for row in table.rows for c in row.cells if c is not None and not math.isnan(c.std)), default=0)


def to_markdown(tables: Sequence[Table], problems: Sequence[str] = ()) -> str:
    if not tables:
        return "No finished runs found.\n" + "".join(f"\n- {p}" for p in problems)
    out = []
    for table in tables:
        max_n = _max_seeds(table)
        grouped = any(row.group for row in table.rows)
        header = (["Dataset"] if grouped else []) + ["Method", *table.columns]
        out.append(f"## {table.title}\n")
        out.append("| " + " | ".join(header) + " |")
        out.append("|" + "|".join(["---"] * len(header)) + "|")
        previous = None
        for row in table.rows:
            lead = [row.group if row.group != previous else ""] if grouped else []
            previous = row.group
            out.append("| " + " | ".join([*lead, row.name, *(format_cell(c, max_n) for c in row.cells)]) + " |")
        notes = [
            *table.notes,
            f"{MISSING}: no result. Seeds per cell: {max_n} unless (n=...) says otherwise.",
        ]
        out.append("")
        out.extend(f"- {note}" for note in notes)
        out.append("")
    if problems:
        out.append("## Skipped\n")
        out.extend(f"- {p}" for p in problems)
        out.append("")
    return "\n".join(out)


def to_csv(tables: Sequence[Table]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["table", "group", "method", "column", "mean", "std", "n"])
    for table in tables:
        for row in table.rows:
            for column, cell in zip(table.columns, row.cells, strict=True):
                if cell is None:
                    writer.writerow([table.key, row.group, row.name, column, "", "", 0])
                else:
                    std = "" if math.isnan(cell.std) else f"{cell.std:.4f}"
                    writer.writerow([table.key, row.group, row.name, column, f"{cell.mean:.4f}", std, cell.n])
    return buffer.getvalue()


def to_json(tables: Sequence[Table], problems: Sequence[str] = ()) -> str:
    def cell_json(cell: Cell | None) -> dict[str, Any] | None:
        if cell is None:
            return None
        return {"mean": cell.mean, "std": None if math.isnan(cell.std) else cell.std, "n": cell.n}

    data = {
        "tables": [
            {
                "key": t.key,
                "title": t.title,
                "columns": t.columns,
                "rows": [
                    {"group": r.group, "method": r.name, "cells": [cell_json(c) for c in r.cells]} for r in t.rows
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
