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
