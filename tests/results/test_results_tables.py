"""Reports from run folders: the paper's aggregation rules, missing cells, and the three output formats."""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path

import pytest

from hicropl.results import build_tables, find_runs, make_report
from hicropl.results.record import evaluation_name, harmonic_mean
from hicropl.results.render import to_markdown
from tests.results.run_folders import write_run


def _run(
    root: Path,
    method: str,
    dataset: str,
    protocol: str,
    seed: int,
    scores: dict[str, float],
    shots: int = 16,
    variant: str | None = None,
    created: str = "2025-01-01T00:00:00+00:00",
) -> Path:
    folder = root / protocol / method / dataset / f"shots_{shots}" / f"seed_{seed}"
    return write_run(folder, method, dataset, protocol, seed, scores, shots=shots, variant=variant, created=created)


def _b2n(root, method, dataset, seed, base, novel, variant=None, created="2025-01-01T00:00:00+00:00"):
    scores = {evaluation_name(dataset, "base", "test"): base, evaluation_name(dataset, "new", "test"): novel}
    return _run(root, method, dataset, "base2novel", seed, scores, variant=variant, created=created)


def _table(tables, key):
    return next(t for t in tables if t.key == key)


def _row(table, group, method):
    return next(r for r in table.rows if r.group == group and r.name.rstrip(" †") == method)


def test_base_to_novel_uses_hm_of_means(tmp_path):
    _b2n(tmp_path, "hicropl", "EuroSAT", 1, 90.0, 60.0, variant="paper")
    _b2n(tmp_path, "hicropl", "EuroSAT", 2, 80.0, 80.0, variant="paper")
    _b2n(tmp_path, "hicropl", "DescribableTextures", 1, 70.0, 50.0, variant="paper")
    _b2n(tmp_path, "zeroshot", "EuroSAT", 1, 50.0, 60.0)
    runs, problems = find_runs([tmp_path])
    assert len(runs) == 4 and problems == []
    table = _table(build_tables(runs), "base2novel")
    base, novel, hm = _row(table, "EuroSAT", "hicropl-paper").cells
    assert (base.mean, novel.mean, base.n) == (85.0, 70.0, 2)
    assert base.std == pytest.approx(math.sqrt(50.0))
    assert hm.mean == pytest.approx(harmonic_mean(85.0, 70.0))  # not the mean of the per-seed HMs
    assert hm.std == pytest.approx(abs(harmonic_mean(90, 60) - harmonic_mean(80, 80)) / math.sqrt(2))
    average = _row(table, "Average over 2 datasets", "hicropl-paper").cells
    assert average[0].mean == pytest.approx((85.0 + 70.0) / 2) and average[1].mean == pytest.approx((70.0 + 50.0) / 2)
    assert average[2].mean == pytest.approx(harmonic_mean(77.5, 60.0))
    zeroshot_average = next(r for r in table.rows if r.group.startswith("Average") and r.name.startswith("zeroshot"))
    assert zeroshot_average.name == "zeroshot †"  # DTD is missing for it
    assert _row(table, "DescribableTextures", "zeroshot").cells == [None, None, None]
    markdown = to_markdown([table])
    # One seed has no spread: no "± 0.00", and (n=1) says so beside cells of two seeds.
    assert "| DescribableTextures | hicropl-paper | 70.00 (n=1) | 50.00 (n=1) |" in markdown
    assert "± 0.00" not in markdown
    assert "| zeroshot | — | — | — |" in markdown and "†" in markdown


def test_few_shot_per_k_and_average(tmp_path):
    for seed, value in ((1, 60.0), (2, 64.0)):
        _run(tmp_path, "coop", "EuroSAT", "fewshot", seed, {"EuroSAT": value}, shots=1)
    _run(tmp_path, "coop", "EuroSAT", "fewshot", 1, {"EuroSAT": 80.0}, shots=16)
    _run(tmp_path, "coop", "Food101", "fewshot", 1, {"Food101": 70.0}, shots=16)
    table = _table(build_tables(find_runs([tmp_path])[0]), "fewshot")
    assert table.columns == ["K=1", "K=16"]
    k1, k16 = _row(table, "EuroSAT", "coop").cells
    assert (k1.mean, k1.n) == (62.0, 2) and k16.mean == 80.0
    assert _row(table, "Food101", "coop").cells[0] is None
    average = _row(table, "Average over 2 datasets", "coop")
    assert average.cells[1].mean == 75.0 and average.name.endswith("†")


def test_cross_dataset_and_domain_generalisation_tables(tmp_path):
    scores = {"ImageNet": 72.0, "Caltech101": 94.0, "EuroSAT": 48.0, "ImageNetV2": 65.0, "ImageNetSketch": 49.0}
    folder = _run(tmp_path, "hicropl", "ImageNet", "cross_dataset", 1, scores)
    (folder / "evals").mkdir()
    (folder / "evals" / "ImageNetR.json").write_text(json.dumps({"name": "ImageNetR", "accuracy": 77.0}))
    tables = build_tables(find_runs([tmp_path])[0])
    cross = _table(tables, "cross_dataset:ImageNet")
    assert cross.columns[0] == "ImageNet (source)" and len(cross.columns) == 12  # source, 10 targets, average
    cells = dict(zip(cross.columns, cross.rows[0].cells, strict=True))
    assert cells["ImageNet (source)"].mean == 72.0 and cells["Food101"] is None
    assert cells["Average"].mean == pytest.approx((94.0 + 48.0) / 2) and cross.rows[0].name == "hicropl †"
    dg = dict(
        zip(
            _table(tables, "domain_generalization:ImageNet").columns,
            _table(tables, "domain_generalization:ImageNet").rows[0].cells,
            strict=True,
        )
    )
    assert dg["ImageNetR"].mean == 77.0 and dg["ImageNetA"] is None
    assert dg["Average"].mean == pytest.approx((65.0 + 49.0 + 77.0) / 3)


def test_report_files_and_problems(tmp_path):
    _b2n(tmp_path / "runs", "coop", "EuroSAT", 1, 80.0, 60.0)
    newer = _b2n(tmp_path / "more", "coop", "EuroSAT", 1, 81.0, 61.0, created="2025-02-01T00:00:00+00:00")
    broken = tmp_path / "runs" / "broken"
    broken.mkdir()
    (broken / "result.json").write_text("{not json")
    report = make_report([tmp_path / "runs", tmp_path / "more", tmp_path / "absent"], tmp_path / "out")
    assert [p.name for p in report.files] == ["report.md", "report.csv", "report.json"]
    assert any("broken/result.json: unreadable" in p for p in report.problems)
    assert any("absent: no such folder" in p for p in report.problems)
    assert any(f"using the newer {newer}" in p for p in report.problems)
    rows = list(csv.DictReader(io.StringIO((tmp_path / "out" / "report.csv").read_text())))
    euro = [r for r in rows if r["group"] == "EuroSAT" and r["column"] == "Base"]
    assert euro[0]["mean"] == "81.0000" and euro[0]["n"] == "1"  # the newer run wins
    data = json.loads((tmp_path / "out" / "report.json").read_text())
    assert data["tables"][0]["key"] == "base2novel" and data["problems"] == report.problems
    assert "## Skipped" in (tmp_path / "out" / "report.md").read_text()


def test_runs_differing_only_in_shots_are_kept_apart(tmp_path):
    _b2n(tmp_path, "coop", "EuroSAT", 1, 80.0, 60.0)
    scores = {evaluation_name("EuroSAT", "base", "test"): 70.0, evaluation_name("EuroSAT", "new", "test"): 50.0}
    _run(tmp_path, "coop", "EuroSAT", "base2novel", 1, scores, shots=4)
    table = _table(build_tables(find_runs([tmp_path])[0]), "base2novel")
    names = {r.name for r in table.rows if r.group == "EuroSAT"}
    assert names == {"coop (K=4)", "coop (K=16)"}


def test_plots(tmp_path):
    pytest.importorskip("matplotlib", reason="plots are an optional extra (pip install 'hicropl[plots]')")
    _b2n(tmp_path / "runs", "coop", "EuroSAT", 1, 80.0, 60.0)
    _run(tmp_path / "runs", "coop", "EuroSAT", "fewshot", 1, {"EuroSAT": 60.0}, shots=1)
    report = make_report([tmp_path / "runs"], tmp_path / "out", ["md"], plots=True)
    assert {p.name for p in report.files} == {"report.md", "fewshot.png", "base2novel.png"}
    assert all(p.stat().st_size > 0 for p in report.files)


def test_plots_without_matplotlib_say_what_to_install(tmp_path, monkeypatch):
    import builtins

    from hicropl.errors import ConfigError

    real_import = builtins.__import__

    def no_matplotlib(name, *args, **kwargs):
        if name.startswith("matplotlib"):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_matplotlib)
    _run(tmp_path / "runs", "coop", "EuroSAT", "fewshot", 1, {"EuroSAT": 60.0}, shots=1)
    with pytest.raises(ConfigError, match=r"pip install 'hicropl\[plots\]'"):
        make_report([tmp_path / "runs"], tmp_path / "out", ["md"], plots=True)


def test_a_run_label_gives_an_ablation_its_own_row(tmp_path):
    _b2n(tmp_path, "hicropl", "EuroSAT", 1, 90.0, 60.0, variant="paper")
    ablation = _b2n(tmp_path / "ablation", "hicropl", "EuroSAT", 1, 95.0, 40.0, variant="paper")
    result = json.loads((ablation / "result.json").read_text())
    (ablation / "result.json").write_text(json.dumps({**result, "label": "hicropl-nocons"}))
    runs, _ = find_runs([tmp_path])
    table = _table(build_tables(runs), "base2novel")
    assert [c.mean for c in _row(table, "EuroSAT", "hicropl-paper").cells[:2]] == [90.0, 60.0]
    assert [c.mean for c in _row(table, "EuroSAT", "hicropl-nocons").cells[:2]] == [95.0, 40.0]


def test_the_summary_table_in_a_chosen_order(tmp_path):
    from hicropl.results.render import summary_rows, to_summary_markdown
    from hicropl.results.tables import base_to_novel_table

    _b2n(tmp_path, "zeroshot", "EuroSAT", 1, 50.0, 60.0)
    _b2n(tmp_path, "hicropl", "EuroSAT", 1, 90.0, 60.0, variant="paper")
    _b2n(tmp_path, "hicropl", "EuroSAT", 2, 80.0, 80.0, variant="paper")
    _b2n(tmp_path, "hicropl", "DescribableTextures", 1, 70.0, 50.0, variant="paper")
    _b2n(tmp_path, "zeroshot", "DescribableTextures", 1, 40.0, 40.0)
    runs, _ = find_runs([tmp_path])
    table = base_to_novel_table(runs, methods=["zeroshot"], datasets=["EuroSAT"])
    assert [(r.group, r.name) for r in table.rows if not r.average] == [
        ("EuroSAT", "zeroshot"),
        ("EuroSAT", "hicropl-paper"),
        ("DescribableTextures", "zeroshot"),
        ("DescribableTextures", "hicropl-paper"),
    ]
    assert [r.name for r in table.rows if r.average] == ["zeroshot", "hicropl-paper"]
    rows = summary_rows(table)
    assert [(r["method"], r["dataset"], r["n"]) for r in rows] == [
        ("zeroshot", "EuroSAT", 1),
        ("zeroshot", "DescribableTextures", 1),
        ("zeroshot", "Average", 1),
        ("hicropl-paper", "EuroSAT", 2),
        ("hicropl-paper", "DescribableTextures", 1),
        ("hicropl-paper", "Average", 1),  # the fewest seeds of its datasets
    ]
    hm = harmonic_mean(85.0, 70.0)
    assert to_summary_markdown(table).splitlines() == [
        "| Dataset | Method | Seeds | Base | Novel | HM |",
        "|---|---|---|---|---|---|",
        "| EuroSAT | zeroshot | 1 | 50.0 | 60.0 | 54.5 |",
        f"| EuroSAT | hicropl-paper | 2 | 85.0 ± 7.1 | 70.0 ± 14.1 | {hm:.1f} |",
        "| DescribableTextures | zeroshot | 1 | 40.0 | 40.0 | 40.0 |",
        "| DescribableTextures | hicropl-paper | 1 | 70.0 | 50.0 | 58.3 |",
        "| Average | zeroshot | 1 | 45.0 | 50.0 | 47.4 |",
        f"| Average | hicropl-paper | 1 | 77.5 | 60.0 | {harmonic_mean(77.5, 60.0):.1f} |",
    ]
    one = base_to_novel_table([r for r in runs if r.dataset == "EuroSAT"])
    assert [r["dataset"] for r in summary_rows(one)] == ["EuroSAT", "EuroSAT"]  # no average of one dataset
