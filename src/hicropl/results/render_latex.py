"""Tables as LaTeX: one booktabs ``tabular`` per table (needs ``\\usepackage{booktabs}``).

Every piece of text is escaped, so method labels and dataset names such as ``hicropl_v2`` or
``100% & more`` compile as written. ``bold_best`` sets the best mean of each column (per dataset
block) in bold.
"""

from __future__ import annotations

from collections.abc import Sequence

from hicropl.results.render import format_cell, max_seeds, seeds_note
from hicropl.results.tables import Cell, PaperComparison, Row, Table

_SPECIAL = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
    "±": r"$\pm$",
    "—": "--",
    "†": r"$^\dagger$",
    "Δ": r"$\Delta$",
}


def latex_escape(text: str) -> str:
    return "".join(_SPECIAL.get(char, char) for char in " ".join(text.split()))


def _comparison(paper: PaperComparison | None) -> str:
    if paper is None:
        return ""
    mark = {"*": r"$^{*}$", "?": r"$^{?}$"}.get(paper.mark, "")
    return rf" {{\scriptsize ({paper.published:.2f}, ${paper.difference:+.2f}${mark})}}"


def _best(rows: Sequence[Row], column: int) -> float | None:
    means = [c.mean for row in rows if (c := row.cells[column]) is not None]
    return max(means) if len(means) > 1 else None


def _cell(cell: Cell | None, max_n: int, best: float | None, paper: PaperComparison | None) -> str:
    text = latex_escape(format_cell(cell, max_n))
    if cell is not None and best is not None and cell.mean == best:
        text = rf"\textbf{{{text}}}"
    return text + _comparison(paper)


def table_to_latex(table: Table, bold_best: bool = False) -> str:
    max_n = max_seeds(table)
    grouped = any(row.group for row in table.rows)
    header = (["Dataset"] if grouped else []) + ["Method", *table.columns]
    lines = [
        f"% {latex_escape(table.title)}",
        r"\begin{tabular}{" + "l" * (2 if grouped else 1) + "r" * len(table.columns) + "}",
        r"\toprule",
        " & ".join(latex_escape(h) for h in header) + r" \\",
        r"\midrule",
    ]
    groups = list(dict.fromkeys(row.group for row in table.rows))
    for number, group in enumerate(groups):
        block = [row for row in table.rows if row.group == group]
        best = [_best(block, c) if bold_best else None for c in range(len(table.columns))]
        if number:
            lines.append(r"\midrule")
        for position, row in enumerate(block):
            lead = [latex_escape(group) if position == 0 else ""] if grouped else []
            cells = [
                _cell(c, max_n, best[j], row.paper[j] if j < len(row.paper) else None) for j, c in enumerate(row.cells)
            ]
            lines.append(" & ".join([*lead, latex_escape(row.name), *cells]) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}"]
    notes = [*table.notes, seeds_note(max_n)]
    lines += [f"% {latex_escape(note)}" for note in notes]
    return "\n".join(lines) + "\n"


def to_latex(tables: Sequence[Table], problems: Sequence[str] = (), bold_best: bool = False) -> str:
    parts = [table_to_latex(table, bold_best) for table in tables]
    parts += [f"% skipped: {latex_escape(problem)}" for problem in problems]
    return "\n".join(parts) + ("\n" if problems else "")
