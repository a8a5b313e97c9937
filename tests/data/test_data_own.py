"""The user's own data: folder:/csv: references, the recorded split, class names, and every bad input."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from hicropl.data.check import check_data_root
from hicropl.data.datasets.own import folder_dataset, is_own_spec, parse_reference
from hicropl.data.registry import (
    build_dataset,
    dataset_reference,
    get_dataset_spec,
    needs_data_root,
    register_dataset,
    unregister_dataset,
)
from hicropl.errors import DataError
from tests.data.own_data import CLASSES, make_class_folders, make_csv
from tests.data.synthetic import corrupt_image, write_image


def read(reference: str):
    return build_dataset(reference, "")


def one_line_error(reference: str, *fragments: str) -> str:
    with pytest.raises(DataError) as info:
        read(reference)
    message = str(info.value)
    assert "\n" not in message, message
    for fragment in fragments:
        assert fragment in message, message
    return message


def test_a_folder_of_class_folders_is_split_per_class_and_the_split_is_recorded(tmp_path):
    data = make_class_folders(tmp_path / "animals")
    splits = read(f"folder:{data}")
    assert splits.classnames == ["cat", "dog", "red fox", "zebra"]  # sorted folders, "_" read as a space
    assert (len(splits.train), len(splits.val), len(splits.test)) == (20, 8, 12)
    for part, per_class in ((splits.train, 5), (splits.val, 2), (splits.test, 3)):
        assert [sum(d.label == label for d in part) for label in range(4)] == [per_class] * 4
    assert any("/more/" in d.impath for d in splits.train + splits.val + splits.test)  # nested folders count
    recorded = json.loads((data / "hicropl_split.json").read_text())
    assert recorded["classes"] == list(CLASSES) and recorded["format"] == 1
    assert {d.impath for d in splits.test} == {str(data / row[0]) for row in recorded["test"]}

    # The same data gives the same split in a copy of the folder without the split file.
    copy = tmp_path / "copy" / "animals"
    shutil.copytree(data, copy)
    (copy / "hicropl_split.json").unlink()
    again = read(f"folder:{copy}")
    assert [Path(d.impath).relative_to(copy) for d in again.test] == [
        Path(d.impath).relative_to(data) for d in splits.test
    ]


def test_the_split_file_keeps_the_split_when_the_folder_changes(tmp_path, caplog):
    data = make_class_folders(tmp_path / "animals")
    first = read(f"folder:{data}")
    write_image(data / "zebra" / "late.jpg", seed=9999)
    with caplog.at_level("WARNING", logger="hicropl.data"):
        second = read(f"folder:{data}")
    assert second == first
    assert "1 images are not in the split file" in caplog.text and "late.jpg" in caplog.text

    Path(first.test[0].impath).unlink()
    with pytest.raises(DataError, match="1 of 40 images") as info:
        read(f"folder:{data}")
    assert f"delete {data / 'hicropl_split.json'}" in str(info.value)

    make_class_folders(data, classes=["yak"], per_class=3)
    one_line_error(f"folder:{data}", "classes ['yak']", "delete the split file to split again")

    (data / "hicropl_split.json").unlink()
    resplit = read(f"folder:{data}")
    assert resplit.num_classes == 5 and str(data / "zebra" / "late.jpg") in {
        d.impath for d in resplit.train + resplit.val + resplit.test
    }


def test_a_presplit_folder_keeps_its_split_and_may_not_change_it_silently(tmp_path):
    data = tmp_path / "presplit"
    make_class_folders(data / "train", classes=["a", "b"], per_class=3)
    make_class_folders(data / "test", classes=["a", "b"], per_class=2)
    splits = read(f"folder:{data}")
    assert (len(splits.train), len(splits.val), len(splits.test)) == (6, 0, 4)
    assert all("/test/" in d.impath for d in splits.test)
    (data / "test" / "a" / "000.jpg").rename(data / "train" / "a" / "moved.jpg")
    one_line_error(f"folder:{data}", "no longer matches its split file")


def test_a_csv_with_or_without_a_split_column(tmp_path):
    file = make_csv(tmp_path / "sparrows")
    splits = read(f"csv:{file}")
    assert splits.name == "sparrows-labels" and splits.classnames == ["cat", "dog", "red fox", "zebra"]
    assert (tmp_path / "sparrows" / "labels.hicropl_split.json").is_file()
    assert (len(splits.train), len(splits.val), len(splits.test)) == (20, 8, 12)

    given = make_csv(tmp_path / "given", split=True)
    splits = read(f"csv:{given}")
    assert (len(splits.train), len(splits.val), len(splits.test)) == (20, 8, 12)
    assert all(Path(d.impath).stem.endswith(("_7", "_8", "_9")) for d in splits.test)


def test_classnames_and_descriptions_files(tmp_path):
    data = make_class_folders(tmp_path / "named", classes=["c1", "c2 two"], per_class=3)
    (data / "classnames.txt").write_text("c1 tabby cat\nc2 two\tgrey   wolf\n", "utf-8")
    (data / "descriptions.json").write_text(json.dumps({"tabby cat": ["striped"], "grey wolf": ["a wolf"]}), "utf-8")
    splits = read(f"folder:{data}")
    assert splits.classnames == ["tabby cat", "grey wolf"]
    assert splits.description_file == str(data / "descriptions.json")

    (data / "descriptions.json").write_text(json.dumps({"tabby cat": ["striped"]}), "utf-8")
    one_line_error(f"folder:{data}", str(data / "descriptions.json"), "'grey wolf'", "add an entry")
    (data / "descriptions.json").unlink()
    (data / "classnames.txt").write_text("c1 tabby cat\nc3 lion\n", "utf-8")
    one_line_error(f"folder:{data}", "names classes that the data does not have: ['c3']")
    (data / "classnames.txt").write_text("c1 tabby cat\n", "utf-8")
    one_line_error(f"folder:{data}", "has no line for the classes ['c2 two']")
    (data / "classnames.txt").write_text("c1 wolf\nc2 two\tWolf\n", "utf-8")
    one_line_error(f"folder:{data}", "duplicate class names", "'c1' -> 'wolf'", "give each class its own name")


def test_bad_folders_are_one_line_errors_naming_the_path_and_the_fix(tmp_path):
    data = make_class_folders(tmp_path / "bad", classes=["a", "b"], per_class=3)
    (data / "empty").mkdir()
    one_line_error(f"folder:{data}", f"the class folder {data / 'empty'} has no images", "add images to it or remove")
    (data / "empty").rmdir()

    write_image(data / "loose.jpg")
    one_line_error(f"folder:{data}", "outside any class folder", "loose.jpg", "move each image into the folder")
    (data / "loose.jpg").unlink()

    corrupt_image(data / "b" / "001.jpg")
    one_line_error(f"folder:{data}", "1 images", str(data / "b" / "001.jpg"), "cannot be decoded", "replace or delete")
    assert not (data / "hicropl_split.json").exists()
    (data / "b" / "001.jpg").unlink()
    one_line_error(f"folder:{data}", "the classes b (2) have fewer than 3 images", "add images")

    make_class_folders(tmp_path / "dups", classes=["red_fox", "red fox"], per_class=3)
    one_line_error(f"folder:{tmp_path / 'dups'}", "duplicate class names", "'red_fox' -> 'red fox'")
    one_line_error(f"folder:{tmp_path / 'nowhere'}", str(tmp_path / "nowhere"), "does not exist")
    (tmp_path / "flat").mkdir()
    one_line_error(f"folder:{tmp_path / 'flat'}", "has no class folders", "own sub-folder")


@pytest.mark.parametrize(
    ("text", "fragments"),
    [
        ("path,label,colour\nimages/a.jpg,cat,red\n", ["unknown columns ['colour']", "path,label"]),
        ("images/a.jpg,cat\n", ["unknown columns", "the first line must name the columns"]),
        ("path\nimages/a.jpg\n", ["no column ['label']"]),
        ("", ["is empty", "header line"]),
        ("path,label\n", ["lists no images"]),
        ("path,label\nimages/a.jpg,cat\nimages/gone.jpg,cat\n", ["1 of 2 images", "line 3", "gone.jpg", "relative to"]),
        ("path,label\nimages/a.jpg,cat\n./images/a.jpg,dog\n", ["line 3", "already listed on line 2"]),
        ("path,label\nimages/a.jpg,\n", ["line 2: the path and the label must not be empty"]),
        ("path,label,split\nimages/a.jpg,cat,holdout\n", ["line 2: split 'holdout'"]),
        ("path,label,split\nimages/a.jpg,cat,test\n", ["labels ['cat'] have no image with split train"]),
        ("path,label\nimages/a.jpg,cat,extra\n", ["line 2: 3 values for the 2 columns"]),
    ],
)
def test_bad_csv_files_are_one_line_errors(tmp_path, text, fragments):
    write_image(tmp_path / "images" / "a.jpg")
    file = tmp_path / "labels.csv"
    file.write_text(text, "utf-8")
    one_line_error(f"csv:{file}", str(file), *fragments)


def test_a_missing_csv_file(tmp_path):
    one_line_error(f"csv:{tmp_path / 'none.csv'}", str(tmp_path / "none.csv"), "does not exist")


def test_references_are_absolute_and_resolve_to_readable_registered_names(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    source = parse_reference("folder:data/../my pets")
    assert source is not None and source.reference == f"folder:{tmp_path / 'my pets'}"
    assert source.readable_name == "my_pets"
    assert parse_reference("EuroSAT") is None and parse_reference("https://x") is None

    spec = get_dataset_spec("folder:my pets")
    assert spec.name == "my_pets" and is_own_spec(spec) and not needs_data_root("my_pets")
    assert dataset_reference("my_pets") == dataset_reference("folder:my pets") == f"folder:{tmp_path / 'my pets'}"
    assert dataset_reference("eurosat") == "EuroSAT" and needs_data_root("EuroSAT")

    # A name already taken (here the alias "pets" of OxfordPets) gets a digest of the path appended.
    clash = get_dataset_spec(f"folder:{tmp_path / 'pets'}")
    assert clash.name.startswith("pets-") and len(clash.name) == len("pets-") + 8
    assert get_dataset_spec("pets").name == "OxfordPets"
    for name in ("my_pets", clash.name):
        unregister_dataset(name)


def test_register_dataset_under_a_chosen_name_and_check_it(tmp_path):
    data = make_class_folders(tmp_path / "zoo", per_class=3)
    spec = register_dataset(folder_dataset(data, name="MyZoo"))
    try:
        splits = build_dataset("myzoo", "/no/data/root/needed")
        assert splits.name == "MyZoo" and splits.num_classes == 4
        [check] = check_data_root(tmp_path, ["MyZoo"])
        assert check.status == "ok" and check.found == {"train": 4, "val": 4, "test": 4}
    finally:
        unregister_dataset(spec.name)


def test_the_python_example_in_datasets_md_works(tmp_path, monkeypatch):
    text = (Path(__file__).parents[2] / "DATASETS.md").read_text("utf-8")
    example = text.split("### In Python", 1)[1].split("```python\n", 1)[1].split("```", 1)[0]
    monkeypatch.setenv("HOME", str(tmp_path))
    make_class_folders(tmp_path / "photos" / "pets", per_class=3)
    for split in ("train", "val", "test"):
        for name in ("healthy", "rust"):
            for i in range(2):
                write_image(tmp_path / "data" / "leaves" / split / name / f"{i}.jpg")
    namespace: dict[str, object] = {}
    try:
        exec(compile(example, "DATASETS.md", "exec"), namespace)
        assert namespace["pets"].name == "MyPets" and namespace["pets"].num_classes == 4  # type: ignore[attr-defined]
        leaves = namespace["leaves"]
        assert leaves.classnames == ["healthy", "rust"] and len(leaves.test) == 4  # type: ignore[attr-defined]
    finally:
        for name in ("MyPets", "Leaves"):
            unregister_dataset(name)
