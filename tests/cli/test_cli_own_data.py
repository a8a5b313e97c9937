"""The user's own data (``--dataset folder:PATH`` / ``csv:FILE``) through train, eval, predict and report."""

from __future__ import annotations

import json

from tests.cli.cli_helpers import FAST, run_cli
from tests.data.own_data import make_class_folders, make_csv


def own_train_args(dataset: str, clip, *extra: object) -> list:
    return [
        "train",
        "--method",
        "test_head",
        "--dataset",
        dataset,
        "--protocol",
        "base2novel",
        "--seed",
        "1",
        "--clip",
        clip,
        *FAST,
        *extra,
    ]


def test_a_folder_dataset_trains_evaluates_predicts_and_reports(tmp_path, capsys, tiny_checkpoint, monkeypatch):
    data = make_class_folders(tmp_path / "data" / "my_animals")
    (data / "classnames.txt").write_text("cat house cat\ndog dog\nred_fox red fox\nzebra plains zebra\n", "utf-8")
    monkeypatch.chdir(tmp_path)  # runs/ and the relative folder: path are under tmp_path

    code, out, err = run_cli(capsys, *own_train_args("folder:data/my_animals", tiny_checkpoint))
    assert code == 0, err
    run = tmp_path / "runs" / "base2novel" / "test_head" / "my_animals" / "shots_2" / "seed_1"
    result = json.loads((run / "result.json").read_text())
    assert result["dataset"] == "my_animals" and set(result["summary"]) == {"base", "novel", "hm"}
    assert result["classes"] == ["house cat", "dog"]  # the base half, named by classnames.txt
    assert result["evaluations"]["my_animals (novel)"]["count"] == 6  # 30% of 10 images x 2 novel classes
    assert "dataset: folder:" + str(data) in (run / "config.yaml").read_text()  # found again from anywhere
    split = json.loads((data / "hicropl_split.json").read_text())
    assert split["classes"] == ["cat", "dog", "red_fox", "zebra"] and len(split["test"]) == 12

    # A later process evaluates from the run folder alone; a new image in the folder changes nothing.
    monkeypatch.chdir(tmp_path / "data")
    make_class_folders(tmp_path / "extra", classes=["cat"], per_class=1)
    (tmp_path / "extra" / "cat" / "000.jpg").rename(data / "cat" / "new.jpg")
    code, out, err = run_cli(capsys, "eval", run, "--subset", "novel", "--json", "--quiet")
    assert code == 0, err
    record = json.loads(out)
    assert record["accuracy"] == result["evaluations"]["my_animals (novel)"]["accuracy"]

    other = make_class_folders(tmp_path / "other_pets", classes=["hamster", "rabbit", "parrot"], per_class=4)
    code, out, err = run_cli(capsys, "eval", run, "--dataset", f"folder:{other}", "--json", "--quiet")
    assert code == 0, err
    assert json.loads(out)["name"] == "other_pets" and json.loads(out)["count"] == 3  # one test image per class
    assert (run / "evals" / "other_pets.json").is_file()

    code, out, err = run_cli(capsys, "predict", run, data / "dog" / "001.jpg")
    assert code == 0, err
    assert {p["class"] for p in json.loads(out)[0]["predictions"]} <= {"house cat", "dog"}
    code, out, err = run_cli(
        capsys, "predict", run, data / "dog" / "001.jpg", "--classes-dataset", f"folder:{data}", "--subset", "novel"
    )
    assert code == 0, err
    assert {p["class"] for p in json.loads(out)[0]["predictions"]} == {"red fox", "plains zebra"}

    code, out, err = run_cli(capsys, "report", tmp_path / "runs")
    assert code == 0, err
    assert "| my_animals | test_head |" in out


def test_a_csv_dataset_trains(tmp_path, capsys, tiny_checkpoint):
    file = make_csv(tmp_path / "birds")
    run = tmp_path / "run"
    code, _, err = run_cli(capsys, *own_train_args(f"csv:{file}", tiny_checkpoint, "--output", run))
    assert code == 0, err
    result = json.loads((run / "result.json").read_text())
    assert result["dataset"] == "birds-labels"
    assert result["evaluations"]["birds-labels (base)"]["count"] == 6


def test_too_few_images_for_the_shots_is_one_clear_line(tmp_path, capsys, tiny_checkpoint):
    data = make_class_folders(tmp_path / "few", per_class=4)
    code, _, err = run_cli(capsys, *own_train_args(f"folder:{data}", tiny_checkpoint, "--output", tmp_path / "run"))
    assert code == 0, err  # 2 shots, 2 training images per class
    code, _, err = run_cli(
        capsys, *own_train_args(f"folder:{data}", tiny_checkpoint, "--shots", "4", "--output", tmp_path / "r4")
    )
    assert code == 2 and "Traceback" not in err
    assert "has only 2 training image(s)" in err and "Pass --shots 2 or less" in err
    assert len(err.strip().splitlines()) == 1


def test_data_check_of_own_data_needs_no_data_root(tmp_path, capsys):
    data = make_class_folders(tmp_path / "checked_photos", per_class=3)
    code, out, err = run_cli(capsys, "data", "check", "--dataset", f"folder:{data}")
    assert code == 0, err
    assert "checked_photos  ok" in out and (data / "hicropl_split.json").is_file()
