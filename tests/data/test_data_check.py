"""``check_data_root`` / ``run_data_check`` on complete, partial and broken roots."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import pytest

from hicropl.data import check_data_root, format_check_report, get_dataset_spec, register_dataset, run_data_check
from hicropl.data.registry import UnknownDatasetError, unregister_dataset
from hicropl.data.spec import SplitCounts


def test_every_miniature_dataset_is_present_with_counts(mini) -> None:
    checks = check_data_root(mini.root)
    assert [c.name for c in checks][:15] == list(mini.datasets)
    for check in checks[:15]:
        info = mini.datasets[check.name]
        assert check.present and check.status == "different", (check.name, check.message)
        assert check.found["train"] == info.counts["train"]
        assert check.found["test"] == info.counts["test"]
        expected_val = None if check.name == "ImageNet" else info.counts["val"]
        assert check.found["val"] == expected_val
    pets = next(c for c in checks if c.name == "OxfordPets")
    assert pets.expected == {"train": 2944, "val": 736, "test": 3669}


def test_missing_dataset_and_first_missing_path(tmp_path: Path) -> None:
    (tmp_path / "oxford_pets").mkdir()
    checks = {c.name: c for c in check_data_root(tmp_path)}
    assert checks["Caltech101"].status == "missing"
    assert checks["Caltech101"].first_missing == str(tmp_path / "caltech-101")
    pets = checks["OxfordPets"]
    assert pets.status == "broken" and pets.first_missing == str(tmp_path / "oxford_pets/images")
    assert "oxford_pets/images is missing" in pets.message


def test_incomplete_dataset_counts_missing_images(make_mini) -> None:
    m = make_mini(["EuroSAT"])
    info = m.datasets["EuroSAT"]
    for path in info.paths["val"][:3]:
        path.unlink()
    (check,) = check_data_root(m.root, ["eurosat"])
    assert check.status == "incomplete" and check.missing_files == 3
    assert check.found["val"] == info.counts["val"] - 3 and check.found["train"] == info.counts["train"]
    assert check.first_missing == str(info.paths["val"][0])


def test_unshipped_split_missing_is_broken_with_path(make_mini) -> None:
    m = make_mini(["Food101"])
    (m.root / "food-101/split_zhou_Food101.json").unlink()
    (check,) = check_data_root(m.root, ["Food101"])
    assert check.status == "broken"
    assert check.first_missing == str(m.root / "food-101/split_zhou_Food101.json")
    assert str(m.root / "food-101/split_zhou_Food101.json") in check.message


def test_report_table(make_mini) -> None:
    m = make_mini(["OxfordPets"])
    report = format_check_report(check_data_root(m.root))
    lines = report.splitlines()
    assert lines[0].split() == ["dataset", "status", "train", "val", "test"]
    pets = next(line for line in lines if line.startswith("OxfordPets"))
    assert "different" in pets and "14 / 2,944" in pets and "8 / 3,669" in pets
    caltech = next(line for line in lines if line.startswith("Caltech101"))
    assert "missing" in caltech and "- / 4,128" in caltech
    assert "Caltech101 (missing): the dataset folder" in report and "get it: " in report
    assert "0 of 15 datasets complete" in report


def test_run_data_check_exit_codes(make_mini, capsys, tmp_path: Path) -> None:
    m = make_mini(["DescribableTextures"])
    info = m.datasets["DescribableTextures"]
    spec = get_dataset_spec("DescribableTextures")
    exact = dataclasses.replace(
        spec,
        name="MiniTextures",
        aliases=(),
        expected=SplitCounts(info.counts["train"], info.counts["val"], info.counts["test"]),
    )
    register_dataset(exact)
    try:
        assert run_data_check(m.root, "MiniTextures") == 0
        out = capsys.readouterr().out
        assert "MiniTextures" in out and "ok" in out and "1 of 1 datasets complete" in out
        assert "files verified" in out
        assert run_data_check(m.root, "dtd") == 1
    finally:
        unregister_dataset("MiniTextures")
    assert run_data_check(tmp_path / "absent") == 2
    assert "data root" in capsys.readouterr().err
    with pytest.raises(UnknownDatasetError):
        run_data_check(m.root, "Textures2")


def test_run_data_check_all_missing(tmp_path: Path, capsys) -> None:
    assert run_data_check(tmp_path) == 1
    assert "0 of 15 datasets complete" in capsys.readouterr().out


def test_corrupt_root_folder_listing(make_mini) -> None:
    m = make_mini(["UCF101"])
    shutil.rmtree(m.root / "ucf101/UCF-101-midframes")
    (check,) = check_data_root(m.root, ["ucf101"])
    assert check.status == "broken" and check.first_missing.endswith("ucf101/UCF-101-midframes")
