"""Name lookup, aliases, suggestions and registration by other modules."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from hicropl.data import (
    DatasetSpec,
    DatasetSplits,
    Datum,
    build_dataset,
    dataset_dir,
    get_dataset_spec,
    list_datasets,
    register_dataset,
    resources,
    unregister_dataset,
)
from hicropl.data.registry import UnknownDatasetError, dataset_template, in_imagenet_family
from hicropl.data.spec import DEFAULT_TEMPLATE
from hicropl.errors import ConfigError, HicroplError


@pytest.mark.parametrize(
    ("alias", "name"),
    [("oxford_pets", "OxfordPets"), ("OXFORDPETS", "OxfordPets"), ("dtd", "DescribableTextures"),
     ("DescribableTextures", "DescribableTextures"), ("imagenet_a", "ImageNetA"), ("imagenet-r", "ImageNetR"),
     ("Flowers102", "OxfordFlowers"), ("oxford_flowers", "OxfordFlowers"), ("fgvc_aircraft", "FGVCAircraft"),
     ("imagenet_sketch", "ImageNetSketch"), ("imagenetv2", "ImageNetV2"), ("caltech-101", "Caltech101"),
     ("food-101", "Food101"), ("sun397", "SUN397"), ("ucf_101", "UCF101"), ("stanford_cars", "StanfordCars"),
     ("eurosat", "EuroSAT"), ("imagenet", "ImageNet")],
)  # fmt: skip
def test_aliases(alias: str, name: str) -> None:
    assert get_dataset_spec(alias).name == name


def test_unknown_name_suggests_closest() -> None:
    with pytest.raises(UnknownDatasetError, match=r"unknown dataset 'OxfordPet' \(did you mean 'OxfordPets'") as info:
        get_dataset_spec("OxfordPet")
    assert isinstance(info.value, HicroplError) and "Known datasets: ImageNet, Caltech101" in str(info.value)
    with pytest.raises(UnknownDatasetError, match="did you mean 'SUN397'"):
        build_dataset("sun379", "/tmp")


def test_specs_are_complete() -> None:
    for name in list_datasets()[:15]:
        spec = get_dataset_spec(name)
        assert spec.source and spec.layout.startswith(spec.folder + "/") and spec.required
        assert spec.num_classes and spec.expected is not None
    assert dataset_dir("pets", "/data") == Path("/data/oxford_pets")


def test_each_shipped_description_file_belongs_to_one_dataset_and_the_imagenet_family_has_none() -> None:
    specs = [get_dataset_spec(name) for name in list_datasets()[:15]]
    owned = [spec.description_file for spec in specs if spec.description_file is not None]
    assert sorted(owned) == resources.description_files()
    family = [spec.name for spec in specs if spec.imagenet_family]
    assert family == ["ImageNet", "ImageNetV2", "ImageNetSketch", "ImageNetA", "ImageNetR"]
    assert all(spec.description_file is None for spec in specs if spec.imagenet_family)


def test_imagenet_family_membership_by_any_name() -> None:
    assert in_imagenet_family("ImageNetSketch") and in_imagenet_family("imagenet-a")
    assert not in_imagenet_family("Caltech101")
    assert not in_imagenet_family("SomethingElse") and not in_imagenet_family(None)


def test_dataset_templates_are_coop_s_with_the_generic_one_for_other_classes() -> None:
    assert dataset_template("DescribableTextures") == "{} texture."
    assert dataset_template("pets") == "a photo of a {}, a type of pet."
    assert dataset_template("UCF101") == "a photo of a person doing {}."
    assert dataset_template("StanfordCars") == dataset_template("ImageNetR") == DEFAULT_TEMPLATE == "a photo of a {}."
    assert dataset_template("SomethingElse") == dataset_template(None) == DEFAULT_TEMPLATE
    assert all("{}" in get_dataset_spec(name).template for name in list_datasets())


def _toy_spec(name: str = "ToyBench", aliases: tuple[str, ...] = ("toy",)) -> DatasetSpec:
    def read(folder: Path, check_files: bool = True) -> DatasetSplits:
        data = [Datum(str(folder / "a.png"), 0, "thing")]
        return DatasetSplits(name, ["thing"], data, data, data, None)

    return DatasetSpec(name=name, folder="toy", reader=read, aliases=aliases, source="made in tests", layout="toy/")


def test_other_modules_can_register_datasets(tmp_path: Path) -> None:
    register_dataset(_toy_spec())
    try:
        assert "ToyBench" in list_datasets() and get_dataset_spec("TOY").name == "ToyBench"
        (tmp_path / "toy").mkdir()
        assert build_dataset("toy", tmp_path).classnames == ["thing"]
        with pytest.raises(ConfigError, match="taken by \\['ToyBench'\\]"):
            register_dataset(_toy_spec("Other", ("toy",)))
        replaced = dataclasses.replace(_toy_spec(), folder="toy2")
        register_dataset(replaced, overwrite=True)
        assert get_dataset_spec("toy").folder == "toy2"
    finally:
        unregister_dataset("ToyBench")
    with pytest.raises(UnknownDatasetError):
        get_dataset_spec("toy")


def test_builtin_names_cannot_be_taken_silently() -> None:
    with pytest.raises(ConfigError, match="taken by \\['DescribableTextures'\\]"):
        register_dataset(_toy_spec("MyDTD", ("dtd",)))
    with pytest.raises(ConfigError, match="letters or digits"):
        register_dataset(_toy_spec("MyThing", ("--",)))
