"""``--compare paper``: published values beside ours for faithful runs only, differences and marks."""

from __future__ import annotations

import csv
import io

import pytest

from hicropl.data.protocols import RECOGNITION_DATASETS
from hicropl.results import make_report
from hicropl.results.paper import PaperCell
from hicropl.results.render import to_csv, to_markdown
from tests.results.run_folders import b2n_scores, write_run


def _cell(table, method, dataset, metric, value, shots=16):
    return PaperCell(table, method, dataset, metric, shots, value, "ok", "")


PUBLISHED = [
    _cell("1", "HiCroPL", "EuroSAT", "base", 90.0),
    _cell("1", "HiCroPL", "EuroSAT", "novel", 70.0),
    _cell("1", "CLIP", "EuroSAT", "base", 56.48),
    _cell("1", "CLIP", "EuroSAT", "novel", 64.05),
    _cell("1", "CLIP", "EuroSAT", "hm", 60.03),
    PaperCell("1", "HiCroPL", "EuroSAT", "hm", 16, None, "unreadable", "smudged"),
    _cell("14", "CoOp", "EuroSAT", "accuracy", 50.0, shots=1),
    _cell("2", "HiCroPL", "ImageNet", "accuracy", 71.0, shots=None),
    _cell("2", "HiCroPL", "EuroSAT", "accuracy", 48.0, shots=None),
]


def _b2n(root, name, method, seed, base, novel, **options):
    return write_run(
        root / name / str(seed), method, "EuroSAT", "base2novel", seed, b2n_scores("EuroSAT", base, novel), **options
    )


def _rows(report, key):
    table = next(t for t in report.tables if t.key == key)
    return table, {(r.group, r.name): r for r in table.rows}


def test_faithful_rows_get_the_published_value_difference_and_mark(tmp_path):
    _b2n(tmp_path, "paper", "hicropl", 1, 89.0, 60.0, variant="paper")
    _b2n(tmp_path, "paper", "hicropl", 2, 91.0, 64.0, variant="paper")
    _b2n(tmp_path, "official", "hicropl", 1, 88.0, 66.0, variant="official")
    _b2n(tmp_path, "zs", "zeroshot", 1, 56.0, 64.0, method_options={"prompts": "dataset"})
    _b2n(tmp_path, "zs-ensemble", "zeroshot", 1, 60.0, 66.0, method_options={"prompts": "ensemble"})
    report = make_report([tmp_path], compare="paper", paper_cells=PUBLISHED)
    table, rows = _rows(report, "base2novel")

    base, novel, hm = rows[("EuroSAT", "hicropl-paper")].paper
    assert base.published == 90.0 and base.difference == pytest.approx(0.0) and base.mark == ""
    # Novel: mean 62 ± 2.83 over two seeds, 8 below the paper: beyond two standard deviations.
    assert novel.difference == pytest.approx(-8.0) and novel.mark == "*"
    assert hm is None  # the paper's value is unreadable: nothing to compare with
    zeroshot = rows[("EuroSAT", "zeroshot (prompts=dataset)")].paper
    assert [c.published for c in zeroshot] == [56.48, 64.05, 60.03] and {c.mark for c in zeroshot} == {"?"}
    assert rows[("EuroSAT", "hicropl-official")].paper == []
    assert rows[("EuroSAT", "zeroshot (prompts=ensemble)")].paper == []
    notes = " ".join(table.notes)
    assert "Table 1" in notes and "hicropl-official (variant 'official', not the paper's)" in notes
    assert "zeroshot (prompts=ensemble) (prompts=ensemble, not the dataset templates)" in notes

    markdown = to_markdown(report.tables)
    assert "| 62.00 ± 2.83 (paper 70.00, Δ -8.00*) |" in markdown
    assert "| 56.00 (n=1) (paper 56.48, Δ -0.48?) |" in markdown
    rows_csv = list(csv.DictReader(io.StringIO(to_csv(report.tables))))
    novel_row = next(r for r in rows_csv if r["method"] == "hicropl-paper" and r["column"] == "Novel")
    assert (novel_row["paper"], novel_row["diff"], novel_row["flag"]) == ("70.00", "-8.0000", "*")


def test_labelled_runs_and_other_shots_have_no_published_value(tmp_path):
    _b2n(tmp_path, "nocons", "hicropl", 1, 90.0, 70.0, variant="paper", label="hicropl-nocons")
    write_run(
        tmp_path / "k4",
        "hicropl",
        "EuroSAT",
        "base2novel",
        1,
        b2n_scores("EuroSAT", 90.0, 70.0),
        shots=4,
        variant="paper",
    )
    report = make_report([tmp_path], compare="paper", paper_cells=PUBLISHED)
    table, _ = _rows(report, "base2novel")
    assert all(row.paper == [] for row in table.rows)
    notes = " ".join(table.notes)
    assert "hicropl-nocons (labelled 'hicropl-nocons')" in notes and "hicropl-paper (4 shots, not 16)" in notes


def test_few_shot_transfer_and_averages_map_onto_their_tables(tmp_path):
    for seed, value in ((1, 49.0), (2, 53.0)):
        write_run(tmp_path / "fs" / str(seed), "coop", "EuroSAT", "fewshot", seed, {"EuroSAT": value}, shots=1)
    write_run(tmp_path / "fs-pets", "coop", "OxfordPets", "fewshot", 1, {"OxfordPets": 80.0}, shots=1)
    scores = {"ImageNet": 72.0, "EuroSAT": 47.0}
    write_run(tmp_path / "xd", "hicropl", "ImageNet", "cross_dataset", 1, scores, variant="paper")
    report = make_report(
        [tmp_path], compare="paper", paper_cells=[*PUBLISHED, _cell("14", "CoOp", "Average", "accuracy", 60.0, shots=1)]
    )

    _, rows = _rows(report, "fewshot")
    (k1,) = rows[("EuroSAT", "coop")].paper
    assert (k1.published, k1.difference, k1.mark) == (50.0, pytest.approx(1.0), "")
    # Our average covers 2 of the paper's 11 datasets: not comparable with its Average.
    assert rows[("Average over 2 datasets", "coop")].paper == [None]
    cross, rows = _rows(report, "cross_dataset:ImageNet")
    cells = dict(zip(cross.columns, cross.rows[0].paper, strict=True))
    assert cells["ImageNet (source)"].published == 71.0 and cells["EuroSAT"].difference == pytest.approx(-1.0)
    assert cells["Average"] is None  # most targets are missing (†)


def test_domain_generalisation_of_a_cross_dataset_run_is_compared_with_table_3(tmp_path):
    scores = {"ImageNet": 72.0, "ImageNetV2": 64.0}
    write_run(tmp_path / "xd", "hicropl", "ImageNet", "cross_dataset", 1, scores, variant="paper")
    cells = [_cell("3", "HiCroPL", "ImageNetV2", "accuracy", 65.0, shots=None)]
    report = make_report([tmp_path], compare="paper", paper_cells=cells)
    dg = next(t for t in report.tables if t.key == "domain_generalization:ImageNet")
    compared = dict(zip(dg.columns, dg.rows[0].paper, strict=True))
    assert compared["ImageNetV2"].published == 65.0 and compared["ImageNetV2"].difference == pytest.approx(-1.0)
    assert "Table 3" in " ".join(dg.notes)


def test_an_average_over_the_papers_datasets_is_compared(tmp_path):
    for dataset in RECOGNITION_DATASETS:
        write_run(tmp_path / dataset, "coop", dataset, "fewshot", 1, {dataset: 61.0}, shots=1)
    cells = [_cell("14", "CoOp", "Average", "accuracy", 60.0, shots=1)]
    report = make_report([tmp_path], compare="paper", paper_cells=cells)
    _, rows = _rows(report, "fewshot")
    (average,) = rows[("Average over 11 datasets", "coop")].paper
    assert (average.published, average.difference, average.mark) == (60.0, pytest.approx(1.0), "")


def test_compare_only_knows_the_paper(tmp_path):
    from hicropl.errors import ConfigError

    _b2n(tmp_path, "zs", "zeroshot", 1, 56.0, 64.0)
    with pytest.raises(ConfigError, match="paper"):
        make_report([tmp_path], compare="arxiv-v1")
