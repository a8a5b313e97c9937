"""Optional figures (``pip install 'hicropl[plots]'``): base-to-novel bars and few-shot curves.

* base-to-novel: one panel each for Base, Novel and HM, a group of bars per dataset (and the average
  where there are several), error bars of one standard deviation over seeds, one y-range for all
  panels, the legend below the panels (never over a bar), and with ``--compare paper`` the published
  values as black markers on their bars;
* few-shot: one panel per dataset (and the average), accuracy against shots per class with a band of
  one standard deviation over seeds, zero-shot CLIP as a single point at K=0, and with ``--compare
  paper`` the published curves dashed in the same colour.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hicropl.errors import ConfigError
from hicropl.results.tables import Cell, Row, Table

ZERO_SHOT_METHOD = "zeroshot"
_B2N_COLUMNS = ("Base", "Novel", "HM")


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


def _group_label(group: str) -> str:
    """``Average over 11 datasets`` -> ``Average (11)``; dataset names unchanged."""
    if not group.startswith("Average over "):
        return group
    return group.replace("Average over ", "Average (").replace(" datasets", ")")


def _method(row: Row) -> str:
    return row.name.removesuffix(" †")


def _spread(cell: Cell) -> float:
    """One standard deviation over seeds; NaN (no error bar drawn) for one seed or an average over datasets."""
    return cell.std if not math.isnan(cell.std) and cell.n > 1 else math.nan


def _y_range(lows: Sequence[float], highs: Sequence[float]) -> tuple[float, float]:
    """Shared by every panel: from a round number below the lowest value to just above the highest."""
    if not lows:
        return 0.0, 100.0
    low = max(0.0, 10 * math.floor((min(lows) - 5) / 10))
    high = min(100.0, max(highs) + 0.06 * (max(highs) - low))
    return low, max(high, low + 1)


def _legend_below(fig: Any, handles: list[Any], labels: list[str]) -> None:
    """The legend in its own band under the panels, so it covers no data."""
    columns = min(len(labels), 6)
    rows = math.ceil(len(labels) / max(columns, 1))
    fig.legend(handles, labels, loc="lower center", ncol=columns, frameon=False, fontsize="small")
    band_inches = 0.1 + 0.28 * rows
    fig.tight_layout(rect=(0, band_inches / fig.get_figheight(), 1, 1))


def _save(figure: Any, path: Path) -> Path:
    figure.savefig(path, dpi=150)
    _pyplot().close(figure)
    return path


def base_novel_plot(table: Table, path: Path) -> Path:
    return _save(base_novel_figure(table), path)


def few_shot_plot(table: Table, path: Path) -> Path:
    return _save(few_shot_figure(table), path)


def base_novel_figure(table: Table) -> Any:
    """The base-to-novel bars of ``table`` as a matplotlib figure."""
    plt = _pyplot()
    groups = _groups(table)
    methods = list(dict.fromkeys(_method(r) for r in table.rows))
    row_of = {(r.group, _method(r)): r for r in table.rows}
    width = 0.8 / max(len(methods), 1)
    panel_width = max(6.0, 0.3 * len(groups) * len(methods) + 1.5)
    fig, axes = plt.subplots(len(_B2N_COLUMNS), 1, figsize=(panel_width, 2.6 * len(_B2N_COLUMNS) + 1.0), sharex=True)
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    lows: list[float] = []
    highs: list[float] = []
    published_handle = None
    for ax, column in zip(axes, _B2N_COLUMNS, strict=True):
        index = table.columns.index(column)
        for m, method in enumerate(methods):
            xs, heights, errors, marks = [], [], [], []
            for g, group in enumerate(groups):
                row = row_of.get((group, method))
                value = row.cells[index] if row is not None else None
                if value is None:
                    continue
                xs.append(g + (m - (len(methods) - 1) / 2) * width)
                heights.append(value.mean)
                errors.append(_spread(value))
                spread = 0.0 if math.isnan(errors[-1]) else errors[-1]
                lows.append(value.mean - spread)
                highs.append(value.mean + spread)
                paper = row.paper[index] if row is not None and index < len(row.paper) else None
                if paper is not None:
                    marks.append((xs[-1], paper.published))
                    lows.append(paper.published)
                    highs.append(paper.published)
            colour = colours[m % len(colours)]
            ax.bar(xs, heights, width * 0.92, yerr=errors, capsize=2, color=colour, label=method, ecolor="0.25")
            if marks:
                published_handle = ax.scatter(
                    [x for x, _ in marks], [y for _, y in marks], marker="D", s=14, color="black", zorder=3
                )
        ax.set_ylabel(f"{column} (%)")
        ax.grid(axis="y", alpha=0.3)
        ax.set_axisbelow(True)
    low, high = _y_range(lows, highs)
    for ax in axes:
        ax.set_ylim(low, high)
    axes[-1].set_xticks(range(len(groups)), [_group_label(g) for g in groups], rotation=30, ha="right")
    handles, labels = axes[0].get_legend_handles_labels()
    if published_handle is not None:
        handles.append(published_handle)
        labels.append("published (paper)")
    _legend_below(fig, handles, labels)
    return fig


def _zero_shot_value(row: Row) -> tuple[float, float] | None:
    """Zero-shot CLIP does not train, so its accuracy is one number whatever K: the mean of its cells."""
    cells = [c for c in row.cells if c is not None]
    if not cells:
        return None
    spreads = [s for c in cells if not math.isnan(s := _spread(c))]
    return sum(c.mean for c in cells) / len(cells), max(spreads, default=math.nan)


def few_shot_figure(table: Table) -> Any:
    """The few-shot curves of ``table`` as a matplotlib figure."""
    plt = _pyplot()
    shots = [int(c.split("=")[1]) for c in table.columns]
    groups = _groups(table)
    has_zero_shot = any(row.method == ZERO_SHOT_METHOD for row in table.rows)
    ticks = sorted({*shots, *([0] if has_zero_shot else [])})  # a zero-shot run may already give a K=0 column
    position = {k: i for i, k in enumerate(ticks)}  # evenly spaced, like a log scale that also has K=0
    methods = list(dict.fromkeys(_method(r) for r in table.rows))
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    colour_of = {m: colours[i % len(colours)] for i, m in enumerate(methods)}
    cols = min(4, len(groups))
    rows = math.ceil(len(groups) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.6 * cols, 3.0 * rows + 0.9), squeeze=False)
    legend: dict[str, Any] = {}
    for ax, group in zip(axes.flat, groups, strict=False):
        for row in (r for r in table.rows if r.group == group):
            method, colour = _method(row), colour_of[_method(row)]
            if row.method == ZERO_SHOT_METHOD:
                point = _zero_shot_value(row)
                if point is not None:
                    handle = ax.errorbar(
                        [position[0]], [point[0]], yerr=[point[1]], fmt="*", ms=11, color=colour, capsize=3
                    )
                    legend.setdefault(f"{method} (K=0)", handle)
                continue
            points = [(position[k], c) for k, c in zip(shots, row.cells, strict=True) if c is not None]
            if points:
                xs = [x for x, _ in points]
                means = [c.mean for _, c in points]
                spreads = [0.0 if math.isnan(s := _spread(c)) else s for _, c in points]
                (line,) = ax.plot(xs, means, marker="o", ms=4, color=colour)
                ax.fill_between(
                    xs,
                    [m - s for m, s in zip(means, spreads, strict=True)],
                    [m + s for m, s in zip(means, spreads, strict=True)],
                    color=colour,
                    alpha=0.2,
                    linewidth=0,
                )
                legend.setdefault(method, line)
            published = [(position[k], p.published) for k, p in zip(shots, row.paper, strict=False) if p is not None]
            if published:
                (dashed,) = ax.plot(
                    [x for x, _ in published],
                    [y for _, y in published],
                    linestyle="--",
                    marker="x",
                    ms=5,
                    color=colour,
                    alpha=0.8,
                )
                legend.setdefault(f"{method} (paper)", dashed)
        ax.set_xticks(range(len(ticks)), [str(k) for k in ticks])
        ax.set_title(_group_label(group), fontsize="medium")
        ax.set_xlabel("shots per class (K)")
        ax.set_ylabel("accuracy (%)")
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(groups) :]:
        ax.axis("off")
    _legend_below(fig, list(legend.values()), list(legend))
    return fig
