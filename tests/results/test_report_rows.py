"""Report rows: one row per experiment (runs differing in anything but the seed are apart), readable names,
the newer of two identical runs with a note, and no average over a single dataset."""

from __future__ import annotations

from hicropl.results import build_tables, find_runs
from hicropl.results.record import evaluation_name
from hicropl.results.render import to_markdown
from tests.results.run_folders import b2n_scores, write_run


def _b2n_rows(root):
    runs, problems = find_runs([root])
    table = next(t for t in build_tables(runs, problems) if t.key == "base2novel")
    return table, problems


def test_zero_shot_runs_with_different_prompt_sources_are_two_rows(tmp_path):
    for seed, prompts, base in ((1, "dataset", 50.0), (2, "dataset", 52.0), (1, "ensemble", 60.0)):
        write_run(
            tmp_path / prompts / f"seed_{seed}",
            "zeroshot",
            "EuroSAT",
            "base2novel",
            seed,
            b2n_scores("EuroSAT", base, 40.0),
            method_options={"prompts": prompts},
        )
    table, problems = _b2n_rows(tmp_path)
    rows = {r.name: r for r in table.rows if r.group == "EuroSAT"}
    assert set(rows) == {"zeroshot (prompts=dataset)", "zeroshot (prompts=ensemble)"}
    assert (rows["zeroshot (prompts=dataset)"].cells[0].mean, rows["zeroshot (prompts=dataset)"].cells[0].n) == (
        51.0,
        2,
    )
    assert rows["zeroshot (prompts=ensemble)"].cells[0].mean == 60.0
    assert problems == []  # different experiments, not duplicates


def test_settings_that_differ_only_between_datasets_or_cannot_change_numbers_keep_one_row(tmp_path):
    # Per-dataset recipes (more epochs on one dataset) and where the data lives do not split a method's row.
    write_run(tmp_path / "a", "coop", "EuroSAT", "base2novel", 1, b2n_scores("EuroSAT", 80.0, 60.0))
    other = write_run(tmp_path / "b", "coop", "OxfordPets", "base2novel", 1, b2n_scores("OxfordPets", 90.0, 70.0))
    config = (other / "config.yaml").read_text().replace("epochs: 5", "epochs: 10")
    (other / "config.yaml").write_text(config)
    table, _ = _b2n_rows(tmp_path)
    assert {r.name for r in table.rows} == {"coop"}
    average = next(r for r in table.rows if r.average)
    assert average.cells[0].mean == 85.0


def test_several_differing_settings_are_all_named(tmp_path):
    options = ({"prompts": "custom", "templates": ["a photo of {}."]}, {"prompts": "ensemble"})
    for index, method_options in enumerate(options):
        write_run(
            tmp_path / str(index),
            "zeroshot",
            "EuroSAT",
            "base2novel",
            1,
            b2n_scores("EuroSAT", 50.0 + index, 40.0),
            method_options=method_options,
        )
    table, _ = _b2n_rows(tmp_path)
    assert {r.name for r in table.rows} == {
        'zeroshot (prompts=custom, templates=["a photo of {}."])',
        "zeroshot (prompts=ensemble, templates=unset)",
    }


def test_the_same_run_twice_the_newer_wins_with_a_note(tmp_path):
    write_run(tmp_path / "old", "coop", "EuroSAT", "base2novel", 1, b2n_scores("EuroSAT", 80.0, 60.0))
    newer = write_run(
        tmp_path / "new",
        "coop",
        "EuroSAT",
        "base2novel",
        1,
        b2n_scores("EuroSAT", 82.0, 62.0),
        created="2025-03-01T00:00:00+00:00",
    )
    table, problems = _b2n_rows(tmp_path)
    assert [r.cells[0].mean for r in table.rows] == [82.0]
    assert len(problems) == 1 and f"using the newer {newer}" in problems[0] and "same run" in problems[0]


def test_no_average_over_a_single_dataset(tmp_path):
    write_run(tmp_path / "b2n", "coop", "EuroSAT", "base2novel", 1, b2n_scores("EuroSAT", 80.0, 60.0))
    write_run(tmp_path / "fs", "coop", "EuroSAT", "fewshot", 1, {"EuroSAT": 70.0}, shots=4)
    tables = build_tables(find_runs([tmp_path])[0])
    assert [t.key for t in tables] == ["base2novel", "fewshot"]
    for table in tables:
        assert not any(r.average for r in table.rows)
        assert not any("Average" in note for note in table.notes)
    assert "Average" not in to_markdown(tables)


def test_a_label_with_a_pipe_or_newline_keeps_the_markdown_table_whole(tmp_path):
    write_run(
        tmp_path / "x",
        "coop",
        "EuroSAT",
        "fewshot",
        1,
        {evaluation_name("EuroSAT", "all", "test"): 70.0},
        shots=4,
        label="coop | ctx=4\nlong",
    )
    markdown = to_markdown(build_tables(find_runs([tmp_path])[0]))
    row = next(line for line in markdown.splitlines() if "coop" in line)
    assert row == "| EuroSAT | coop \\| ctx=4 long | 70.00 |"
    assert row.replace("\\|", "").count("|") == 4  # Dataset, Method, K=4: four unescaped separators
