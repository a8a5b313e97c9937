"""Optional figures (``pip install 'hicropl[plots]'``): few-shot curves and base/novel bars."""

from __future__ import annotations

import math
from pathlib import Path

from hicropl.errors import ConfigError
from hicropl.results.tables import Table


def _pyplot():  # type: ignore[no-untyped-def]
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise ConfigError("--plots needs matplotlib: pip install 'hicropl[plots]' (or drop --plots).") from exc
    return plt


def _groups(table: Table) -> list[str]:
    return list(dict.fromkeys(row.group for row in table.rows))


def few_shot_plot(table: Table, path: Path) -> Path:
    plt = _pyplot()
    shots = [int(c.split("=")[1]) for c in table.columns]
    groups = _groups(table)
    cols = min(4, len(groups))
    rows = math.ceil(len(groups) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4 * cols, 3.2 * rows), squeeze=False)
    for ax, group in zip(axes.flat, groups, strict=False):
        for row in (r for r in table.rows if r.group == group):
            points = [(k, c.mean) for k, c in zip(shots, row.cells, strict=True) if c is not None]
            if points:
                ax.plot([p[0] for p in points], [p[1] for p in points], marker="o", label=row.name)
        ax.set_xscale("log", base=2)
        ax.set_xticks(shots, [str(k) for k in shots])
        ax.set_title(group)
        ax.set_xlabel("shots per class")
        ax.set_ylabel("accuracy (%)")
    for ax in list(axes.flat)[len(groups) :]:
        ax.axis("off")
    axes.flat[0].legend(fontsize="small")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def base_novel_plot(table: Table, path: Path) -> Path:
    plt = _pyplot()
    groups = _groups(table)
    methods = list(dict.fromkeys(r.name.rstrip(" †") for r in table.rows))
    fig, axes = plt.subplots(1, 2, figsize=(max(8, 0.9 * len(groups) * max(1, len(methods))), 4), squeeze=False)
    width = 0.8 / max(len(methods), 1)
    for ax, column in zip(axes.flat, ("Base", "Novel"), strict=True):
        index = table.columns.index(column)
        for m, method in enumerate(methods):
            heights = []
            for group in groups:
                row = next((r for r in table.rows if r.group == group and r.name.rstrip(" †") == method), None)
                value = row.cells[index] if row is not None else None
                heights.append(value.mean if value is not None else 0.0)
            ax.bar([g + m * width for g in range(len(groups))], heights, width, label=method)
        ax.set_xticks(
            [g + 0.4 - width / 2 for g in range(len(groups))],
            [g.replace("Average over ", "Avg ") for g in groups],
            rotation=45,
            ha="right",
        )
        ax.set_ylabel(f"{column} accuracy (%)")
        ax.set_title(column)
    axes.flat[0].legend(fontsize="small", loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
