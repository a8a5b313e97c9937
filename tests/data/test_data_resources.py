"""Shipped resources: checksums, content, class-name rules against CoOp's splits, descriptions."""

from __future__ import annotations

import gzip
import hashlib
import posixpath

import numpy as np
import pytest

from hicropl.data import get_dataset_spec, resources
from hicropl.data.classnames import (
    caltech101_classname,
    eurosat_classname,
    oxford_pets_classname,
    stanford_cars_classname,
    sun397_classname,
    ucf101_classname,
)
from hicropl.errors import DataError

SPLIT_COUNTS = {
    "Caltech101": (4128, 1649, 2465, 100),
    "DescribableTextures": (2820, 1128, 1692, 47),
    "EuroSAT": (13500, 5400, 8100, 10),
    "OxfordFlowers": (4093, 1633, 2463, 102),
    "OxfordPets": (2944, 736, 3669, 37),
    "StanfordCars": (6509, 1635, 8041, 196),
    "UCF101": (7639, 1898, 3783, 101),
}


def test_every_shipped_file_matches_its_checksum() -> None:
    resources.verify_all()
    folder = resources._resources.files("hicropl.data.resources")
    shipped = {
        f"{sub.name}/{f.name}"
        for sub in folder.iterdir()
        if sub.is_dir() and not sub.name.startswith("__")
        for f in sub.iterdir()
    }
    assert shipped == set(resources.CHECKSUMS), "every shipped file needs a checksum and vice versa"


def test_checksums_are_the_content_digests() -> None:
    folder = resources._resources.files("hicropl.data.resources")
    for relpath, digest in resources.CHECKSUMS.items():
        raw = folder.joinpath(relpath).read_bytes()
        data = gzip.decompress(raw) if relpath.endswith(".gz") else raw
        assert hashlib.sha256(data).hexdigest() == digest, relpath


def test_checksum_mismatch_names_the_file(monkeypatch: pytest.MonkeyPatch) -> None:
    relpath = "splits/split_zhou_OxfordPets.json.gz"
    monkeypatch.setitem(resources.CHECKSUMS, relpath, "0" * 64)
    with pytest.raises(resources.ResourceChecksumError, match=r"split_zhou_OxfordPets.json.gz.*reinstall"):
        resources.load_split("OxfordPets")


@pytest.mark.parametrize("name", sorted(SPLIT_COUNTS))
def test_shipped_split_counts(name: str) -> None:
    split = resources.load_split(name)
    train, val, test, classes = SPLIT_COUNTS[name]
    assert (len(split["train"]), len(split["val"]), len(split["test"])) == (train, val, test)
    assert {entry[1] for entry in split["train"]} == set(range(classes))


def test_load_split_accepts_aliases_and_explains_unshipped() -> None:
    assert len(resources.load_split("pets")["train"]) == 2944
    with pytest.raises(DataError, match=r"split_zhou_Food101.json is not shipped.*KaiyangZhou/CoOp"):
        resources.load_split("Food101")
    with pytest.raises(DataError, match="no split file is shipped for 'ImageNet'"):
        resources.load_split("ImageNet")


RULES = {
    "Caltech101": lambda p, _l: caltech101_classname(p.split("/")[0]),
    "DescribableTextures": lambda p, _l: p.split("/")[0],
    "EuroSAT": lambda p, _l: eurosat_classname(p.split("/")[0]),
    "OxfordPets": lambda p, _l: oxford_pets_classname(p),
    "UCF101": lambda p, _l: ucf101_classname(p.split("/")[0].replace("_", "")),
}


@pytest.mark.parametrize("name", sorted(RULES))
def test_class_name_rules_reproduce_every_coop_entry(name: str) -> None:
    split = resources.load_split(name)
    rule = RULES[name]
    wrong = [e for part in split.values() for e in part if rule(e[0], e[1]) != e[2]]
    assert wrong == []


def test_flowers_cat_to_name_matches_split() -> None:
    cat_to_name = resources.flowers_cat_to_name()
    assert len(cat_to_name) == 102 and cat_to_name[0] == "pink primrose"
    split = resources.load_split("OxfordFlowers")
    assert all(cat_to_name[label] == name for part in split.values() for _, label, name in part)


def test_class_name_rules_on_known_examples() -> None:
    assert caltech101_classname("Faces") == "face" and caltech101_classname("yin_yang") == "yin_yang"
    assert eurosat_classname("HerbaceousVegetation") == "Herbaceous Vegetation Land"
    assert eurosat_classname("Moon") is None
    assert oxford_pets_classname("american_pit_bull_terrier_12.jpg") == "american_pit_bull_terrier"
    assert ucf101_classname("ApplyEyeMakeup") == "Apply_Eye_Makeup"
    assert sun397_classname("/b/bakery/shop") == "shop bakery"
    assert sun397_classname(posixpath.dirname("a/abbey/sun_a.jpg")) == "abbey"
    assert stanford_cars_classname("Audi TTS Coupe 2012") == "2012 Audi TTS Coupe"
    cars = resources.load_split("StanfordCars")
    assert all(name[:4].isdigit() and name[4] == " " for part in cars.values() for _, _, name in part)


def test_imagenet_classnames() -> None:
    classes = resources.imagenet_classnames()
    assert len(classes) == 1000
    assert classes[0] == ("n01440764", "tench") and classes[7] == ("n01514668", "rooster")
    wnids = [w for w, _ in classes]
    assert wnids == sorted(wnids) and len(set(wnids)) == 1000


def test_parse_classnames_rejects_bad_lines() -> None:
    with pytest.raises(DataError, match="line 2"):
        resources.parse_imagenet_classnames(["n1 a", "n2"], "x.txt")
    with pytest.raises(DataError, match="appears twice"):
        resources.parse_imagenet_classnames(["n1 a", "n1 b"], "x.txt")


@pytest.mark.parametrize("name", sorted(SPLIT_COUNTS))
def test_descriptions_cover_every_class_of_the_shipped_splits(name: str) -> None:
    split = resources.load_split(name)
    classnames = sorted({e[2] for e in split["train"]})
    found = resources.descriptions_for(classnames, get_dataset_spec(name).description_file)
    assert set(found) == set(classnames)
    assert all(isinstance(s, str) and s for sentences in found.values() for s in sentences)


def test_descriptions_missing_classes_are_named() -> None:
    names = ["face", "unicorn_horse", "dragon"]
    with pytest.raises(
        DataError,
        match=r"2 of 3 classes .*'unicorn_horse', 'dragon'.*"
        r"--description-fallback \(method.description_fallback=true\)",
    ):
        resources.descriptions_for(names, "caltech_prompt.json")
    found = resources.descriptions_for(names, "caltech_prompt.json", allow_missing=True)
    assert list(found) == ["face"] and len(found["face"]) == 50


def test_descriptions_look_up_with_spaces() -> None:
    found = resources.descriptions_for(["Apply_Eye_Makeup"], "ucf101_prompt.json")
    assert len(found["Apply_Eye_Makeup"]) == 50


def test_unknown_description_file() -> None:
    with pytest.raises(DataError, match=r"imagenet_prompt\.json.*ImageNet family has none"):
        resources.load_llm_descriptions("imagenet_prompt.json")


@pytest.mark.parametrize(
    ("name", "rows"),
    [("ImageNet", 1000), ("imagenet_sketch", 1000), ("ImageNetV2", 1000), ("ImageNetA", 200), ("ImageNetR", 200),
     ("Caltech101", 50), ("OxfordPets", 37), ("SUN397", 397), ("Food101", 101), ("FGVCAircraft", 100)],
)  # fmt: skip
def test_reference_embeddings(name: str, rows: int) -> None:
    table = resources.reference_text_embeddings(name)
    assert table.shape == (rows, 512) and table.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(table, axis=1), 1.0, atol=1e-5)


def test_sketch_and_v2_share_one_file() -> None:
    np.testing.assert_array_equal(
        resources.reference_text_embeddings("ImageNetSketch"), resources.reference_text_embeddings("ImageNetV2")
    )


def test_description_file_on_disk(tmp_path) -> None:
    path = tmp_path / "mine.json"
    path.write_text('{"red circle": ["a round red shape."]}')
    assert resources.descriptions_for(["red_circle"], str(path)) == {"red_circle": ["a round red shape."]}
    with pytest.raises(DataError, match="does not exist"):
        resources.load_llm_descriptions(str(tmp_path / "absent.json"))
    path.write_text('{"red circle": "not a list"}')
    with pytest.raises(DataError, match="list of sentences"):
        resources.load_llm_descriptions(str(path))
