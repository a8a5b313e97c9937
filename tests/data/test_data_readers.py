"""Every reader against the synthetic miniature of its exact CoOp layout, and against bad input."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from hicropl.data import Datum, build_dataset, get_dataset_spec, list_datasets
from hicropl.errors import DataError
from tests.data.synthetic import (
    BUILDERS,
    IMAGENET_CLASSES,
    make_dtd,
    make_fgvc_aircraft,
    make_imagenet,
    make_imagenet_subset,
    write_image,
)

ALL = list(list_datasets())[:15]
TEST_ONLY = {"ImageNetV2", "ImageNetSketch", "ImageNetA", "ImageNetR"}


def test_all_fifteen_datasets_are_registered() -> None:
    assert ALL == [
        "ImageNet", "Caltech101", "OxfordPets", "StanfordCars", "OxfordFlowers", "Food101", "FGVCAircraft",
        "SUN397", "DescribableTextures", "EuroSAT", "UCF101", "ImageNetV2", "ImageNetSketch", "ImageNetA",
        "ImageNetR",
    ]  # fmt: skip


@pytest.mark.parametrize("name", ALL)
def test_reader_matches_miniature(mini, name: str) -> None:
    info = mini.datasets[name]
    splits = build_dataset(name, mini.root)
    assert splits.name == name
    assert splits.classnames == info.classnames
    assert splits.description_file == get_dataset_spec(name).description_file
    got = {"train": splits.train, "val": splits.val, "test": splits.test}
    for split, data in got.items():
        if name == "ImageNet" and split == "val":
            continue
        assert sorted(d.impath for d in data) == sorted(str(p) for p in info.paths[split]), split
    for datum in [*splits.train, *splits.val, *splits.test]:
        assert os.path.isabs(datum.impath) and os.path.isfile(datum.impath)
        assert 0 <= datum.label < len(splits.classnames)
        assert datum.classname == splits.classnames[datum.label]
        assert datum.domain == 0
    if name in TEST_ONLY:
        assert splits.test_only and not splits.val_is_test
    elif name == "ImageNet":
        assert splits.val_is_test and splits.val == splits.test and not splits.test_only
    else:
        assert not splits.val_is_test and not splits.test_only


def test_reader_labels_follow_the_split_file(mini) -> None:
    splits = build_dataset("Caltech101", mini.root)
    split = json.loads((mini.root / "caltech-101/split_zhou_Caltech101.json").read_text())
    image_dir = mini.root / "caltech-101/101_ObjectCategories"
    expected = [Datum(str(image_dir / p), label, cname) for p, label, cname in split["train"]]
    assert splits.train == expected
    assert not any("BACKGROUND_Google" in d.impath or "Faces_easy" in d.impath for d in splits.test)


def test_aliases_build_the_same_dataset(mini) -> None:
    for alias in ("dtd", "DescribableTextures", "describable-textures", "DTD"):
        assert build_dataset(alias, mini.root).name == "DescribableTextures"
    assert build_dataset("oxford_pets", mini.root).classnames == mini.datasets["OxfordPets"].classnames


def test_imagenet_a_and_r_map_their_subset_onto_imagenet_names(mini) -> None:
    a = build_dataset("imagenet_a", mini.root)
    table = dict(IMAGENET_CLASSES)
    assert a.classnames == [table["n01443537"], table["n01491361"]] == ["goldfish", "tiger shark"]
    by_label = {d.label: os.path.basename(os.path.dirname(d.impath)) for d in a.test}
    assert by_label == {0: "n01443537", 1: "n01491361"}
    r = build_dataset("imagenet-r", mini.root)
    assert r.classnames == ["tench", "great white shark", "hammerhead shark"]


def test_imagenet_a_without_classnames_file_uses_the_shipped_1000_names(tmp_path: Path) -> None:
    wnids = ["n01531178", "n01498041", "n01440764"]
    names = {"n01531178": "goldfinch", "n01498041": "stingray", "n01440764": "tench"}
    make_imagenet_subset(tmp_path, "ImageNetA", "imagenet-adversarial", "imagenet-a", wnids, False, names)
    splits = build_dataset("ImageNetA", tmp_path)
    assert splits.classnames == ["tench", "stingray", "goldfinch"]  # sorted wnids
    assert {d.label: d.classname for d in splits.test} == {0: "tench", 1: "stingray", 2: "goldfinch"}


def test_imagenet_a_unknown_wnid_folder_is_an_error(tmp_path: Path) -> None:
    make_imagenet_subset(tmp_path, "ImageNetA", "imagenet-adversarial", "imagenet-a", ["n01443537"])
    write_image(tmp_path / "imagenet-adversarial/imagenet-a/n99999999/x.jpg")
    with pytest.raises(DataError, match="n99999999"):
        build_dataset("ImageNetA", tmp_path)


def test_imagenet_with_shipped_classnames_needs_all_1000_folders(tmp_path: Path) -> None:
    from hicropl.data.resources import imagenet_classnames

    classes = imagenet_classnames()
    make_imagenet(tmp_path, classes[:3])
    (tmp_path / "imagenet/classnames.txt").unlink()
    with pytest.raises(DataError, match=r"997 class folders .* are missing") as info:
        build_dataset("ImageNet", tmp_path)
    assert str(tmp_path / "imagenet/images/train") in str(info.value)


def test_imagenet_missing_class_folder_and_empty_folder(tmp_path: Path) -> None:
    make_imagenet(tmp_path)
    shutil.rmtree(tmp_path / "imagenet/images/val/n01484850")
    with pytest.raises(DataError, match="n01484850"):
        build_dataset("ImageNet", tmp_path)
    (tmp_path / "imagenet/images/val/n01484850").mkdir()
    with pytest.raises(DataError, match="has no images"):
        build_dataset("ImageNet", tmp_path)


def test_imagenetv2_requires_label_folders(make_mini) -> None:
    m = make_mini(["ImageNetV2"])
    shutil.rmtree(m.root / "imagenetv2/imagenetv2-matched-frequency-format-val/2")
    with pytest.raises(DataError, match=r"missing .*: 2"):
        build_dataset("ImageNetV2", m.root)


def test_fgvc_accepts_the_tarballs_data_folder(tmp_path: Path) -> None:
    info = make_fgvc_aircraft(tmp_path, nested=True)
    splits = build_dataset("FGVCAircraft", tmp_path)
    assert splits.classnames == info.classnames
    assert len(splits.test) == info.counts["test"]
    assert all("/fgvc_aircraft/data/images/" in d.impath for d in splits.train)


def test_fgvc_unknown_variant_names_the_line(make_mini) -> None:
    m = make_mini(["FGVCAircraft"])
    path = m.root / "fgvc_aircraft/images_variant_val.txt"
    path.write_text(path.read_text() + "1234567 Concorde\n")
    with pytest.raises(DataError, match=r"images_variant_val.txt, line \d+: the variant 'Concorde'"):
        build_dataset("FGVCAircraft", m.root)


def test_fgvc_missing_variants_file(make_mini) -> None:
    m = make_mini(["FGVCAircraft"])
    (m.root / "fgvc_aircraft/variants.txt").unlink()
    with pytest.raises(DataError, match=r"variants\.txt is missing"):
        build_dataset("FGVCAircraft", m.root)


def test_dtd_nested_extraction_is_accepted(tmp_path: Path) -> None:
    info = make_dtd(tmp_path, nested=True)
    splits = build_dataset("dtd", tmp_path)
    assert sorted(d.impath for d in splits.train) == sorted(str(p) for p in info.paths["train"])


# --- shipped vs user split files -------------------------------------------------------------------


def test_shipped_split_is_used_when_the_folder_has_none(tmp_path: Path) -> None:
    (tmp_path / "caltech-101/101_ObjectCategories").mkdir(parents=True)
    splits = build_dataset("Caltech101", tmp_path, check_files=False)
    assert (len(splits.train), len(splits.val), len(splits.test)) == (4128, 1649, 2465)
    assert len(splits.classnames) == 100 and splits.classnames[0] == "face"
    assert splits.train[0].impath == str(tmp_path / "caltech-101/101_ObjectCategories/Faces/image_0274.jpg")
    with pytest.raises(DataError, match=r"8242 of 8242 images listed by Caltech101 \(split_zhou_Caltech101.json"):
        build_dataset("Caltech101", tmp_path)


def test_user_split_wins_over_shipped(mini) -> None:
    assert len(build_dataset("Caltech101", mini.root).train) == mini.datasets["Caltech101"].counts["train"]


@pytest.mark.parametrize(("name", "folder"), [("Food101", "food-101"), ("SUN397", "sun397")])
def test_unshipped_split_missing_names_the_expected_path(make_mini, name: str, folder: str) -> None:
    m = make_mini([name])
    expected = m.root / folder / f"split_zhou_{name}.json"
    expected.unlink()
    with pytest.raises(DataError) as info:
        build_dataset(name, m.root)
    message = str(info.value)
    assert str(expected) in message
    assert "github.com/KaiyangZhou/CoOp" in message


def test_split_with_non_coop_class_names_is_rejected(make_mini) -> None:
    m = make_mini(["EuroSAT"])
    path = m.root / "eurosat/split_zhou_EuroSAT.json"
    split = json.loads(path.read_text())
    split = {k: [[p, label, p.split("/")[0]] for p, label, _ in v] for k, v in split.items()}
    path.write_text(json.dumps(split))
    with pytest.raises(DataError, match="CoOp's name is 'Annual Crop Land'"):
        build_dataset("EuroSAT", m.root)


def test_flowers_split_is_checked_against_cat_to_name(make_mini) -> None:
    m = make_mini(["OxfordFlowers"])
    path = m.root / "oxford_flowers/split_zhou_OxfordFlowers.json"
    split = json.loads(path.read_text())
    split = {k: [[p, lab, "rose" if lab == 0 else c] for p, lab, c in v] for k, v in split.items()}
    path.write_text(json.dumps(split))
    with pytest.raises(DataError, match="CoOp's name is 'pink primrose'"):
        build_dataset("OxfordFlowers", m.root)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "cannot read the JSON file"),
        ('{"train": [], "val": []}', "keys train, val and test"),
        ('{"train": [["a.jpg", "0", "x"]], "val": [], "test": []}', "expected \\[relative image path, integer"),
        ('{"train": [["Faces/a.jpg", 1, "face"]], "val": [], "test": []}', "not 0..0"),
        ('{"train": [["Faces/a.jpg", 0, "face"], ["Faces/b.jpg", 0, "faces"]], "val": [], "test": []}', "both"),
    ],
)
def test_malformed_split_files(tmp_path: Path, content: str, message: str) -> None:
    folder = tmp_path / "caltech-101"
    (folder / "101_ObjectCategories").mkdir(parents=True)
    (folder / "split_zhou_Caltech101.json").write_text(content)
    with pytest.raises(DataError, match=message) as info:
        build_dataset("Caltech101", tmp_path)
    assert "split_zhou_Caltech101.json" in str(info.value)


# --- missing things --------------------------------------------------------------------------------


def test_missing_root(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"the data root .*nowhere does not exist.*DATASETS.md"):
        build_dataset("OxfordPets", tmp_path / "nowhere")


@pytest.mark.parametrize("name", ALL)
def test_missing_dataset_folder_names_path_and_source(tmp_path: Path, name: str) -> None:
    spec = get_dataset_spec(name)
    with pytest.raises(DataError) as info:
        build_dataset(name, tmp_path)
    message = str(info.value)
    assert str(tmp_path / spec.folder) in message
    assert spec.source in message and "Expected layout" in message


def test_missing_image_folder(make_mini) -> None:
    m = make_mini(["OxfordPets"])
    shutil.rmtree(m.root / "oxford_pets/images")
    with pytest.raises(DataError, match=r"image folder .*oxford_pets/images is missing"):
        build_dataset("OxfordPets", m.root)


def test_images_listed_but_absent_are_counted_and_shown(make_mini) -> None:
    m = make_mini(["OxfordPets"])
    info = m.datasets["OxfordPets"]
    gone = info.paths["test"][:7]
    for path in gone:
        path.unlink()
    with pytest.raises(DataError) as err:
        build_dataset("OxfordPets", m.root)
    message = str(err.value)
    total = sum(info.counts.values())
    assert f"7 of {total} images listed by OxfordPets" in message
    assert str(gone[0]) in message and "and 2 more" in message
    assert "split_zhou_OxfordPets.json" in message


def test_miniature_builder_covers_every_registered_builtin() -> None:
    # The generator is the test fixture of record: it must know every built-in dataset.
    assert list(BUILDERS) == ALL
