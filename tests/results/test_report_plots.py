"""Plots: what each figure shows (checked on the figure objects; the PNGs are written by the report)."""

from __future__ import annotations

import pytest

from hicropl.results import build_tables, find_runs
from hicropl.results.compare import compare_with_paper
from hicropl.results.paper import PaperCell
from tests.results.run_folders import b2n_scores, write_run

plt = pytest.importorskip("matplotlib.pyplot", reason="plots are an optional extra (pip install 'hicropl[plots]')")


def _tables(root, cells):
    runs, problems = find_runs([root])
    tables = build_tables(runs, problems)
    compare_with_paper(tables, runs, cells)
    return {t.key: t for t in tables}


def test_base_to_novel_bars_share_a_y_range_with_error_bars_markers_and_a_legend_outside(tmp_path):
    from hicropl.results.plots import base_novel_figure

    for dataset in ("EuroSAT", "OxfordPets"):
        for seed, (base, novel) in enumerate(((80.0, 60.0), (84.0, 64.0)), start=1):
            write_run(
                tmp_path / dataset / str(seed), "coop", dataset, "base2novel", seed, b2n_scores(dataset, base, novel)
            )
        write_run(tmp_path / dataset / "zs", "zeroshot", dataset, "base2novel", 1, b2n_scores(dataset, 70.0, 75.0))
    cells = [PaperCell("1", "CoOp", "EuroSAT", "novel", 16, 50.0, "ok", "")]
    figure = base_novel_figure(_tables(tmp_path, cells)["base2novel"])
    axes = figure.axes
    assert [ax.get_ylabel() for ax in axes] == ["Base (%)", "Novel (%)", "HM (%)"]
    assert len({ax.get_ylim() for ax in axes}) == 1  # one y-range across panels
    low, high = axes[0].get_ylim()
    assert low <= 50.0 and high >= 84.0  # the published 50 and the highest bar + error fit
    assert [t.get_text() for t in axes[-1].get_xticklabels()] == ["Average (2)", "OxfordPets", "EuroSAT"]
    assert [ax.get_legend() for ax in axes] == [None, None, None] and len(figure.legends) == 1
    labels = [t.get_text() for t in figure.legends[0].get_texts()]
    assert labels == ["coop", "zeroshot", "published (paper)"]
    from matplotlib.collections import PathCollection

    novel_markers = [c for c in axes[1].collections if isinstance(c, PathCollection)]  # scatter, not error bars
    assert len(novel_markers) == 1 and novel_markers[0].get_offsets()[0][1] == 50.0
    error_bars = [c for c in axes[0].containers if getattr(c, "errorbar", None) is not None]
    assert error_bars  # coop's two seeds give a standard deviation
    plt.close(figure)


def test_few_shot_curves_with_seed_bands_zero_shot_at_k0_and_published_curves(tmp_path):
    from hicropl.results.plots import few_shot_figure

    for seed, offset in ((1, 0.0), (2, 2.0)):
        for k, value in ((1, 60.0), (4, 70.0)):
            write_run(
                tmp_path / f"coop{seed}{k}", "coop", "EuroSAT", "fewshot", seed, {"EuroSAT": value + offset}, shots=k
            )
    write_run(tmp_path / "zs", "zeroshot", "EuroSAT", "fewshot", 1, {"EuroSAT": 48.0}, shots=4)
    cells = [PaperCell("14", "CoOp", "EuroSAT", "accuracy", k, v, "ok", "") for k, v in ((1, 62.0), (4, 73.0))]
    figure = few_shot_figure(_tables(tmp_path, cells)["fewshot"])
    (ax,) = [a for a in figure.axes if a.axison]  # one dataset: one panel, no average panel
    assert ax.get_title() == "EuroSAT"
    assert [t.get_text() for t in ax.get_xticklabels()] == ["0", "1", "4"]
    from matplotlib.collections import PolyCollection

    bands = [c for c in ax.collections if isinstance(c, PolyCollection)]
    assert len(bands) == 1  # the band of one std over the two seeds
    labels = [t.get_text() for t in figure.legends[0].get_texts()]
    assert set(labels) == {"coop", "coop (paper)", "zeroshot (K=0)"}
    paper_line = next(line for line in ax.get_lines() if line.get_linestyle() == "--")
    assert list(paper_line.get_xdata()) == [1, 2] and list(paper_line.get_ydata()) == [62.0, 73.0]
    plt.close(figure)


def test_few_shot_axis_has_one_k0_tick_when_zero_shot_runs_have_zero_shots(tmp_path):
    from hicropl.results.plots import few_shot_figure

    write_run(tmp_path / "coop", "coop", "EuroSAT", "fewshot", 1, {"EuroSAT": 60.0}, shots=2)
    write_run(tmp_path / "zs", "zeroshot", "EuroSAT", "fewshot", 1, {"EuroSAT": 48.0}, shots=0)
    figure = few_shot_figure(_tables(tmp_path, [])["fewshot"])
    (ax,) = [a for a in figure.axes if a.axison]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["0", "2"]
    star = next(line for line in ax.get_lines() if line.get_marker() == "*")
    assert list(star.get_xdata()) == [0]
    plt.close(figure)
