"""The four protocols as data, and each one run end to end (data side) on the miniature."""

from __future__ import annotations

import pytest

from hicropl.data import build_dataset, get_protocol, list_protocols, sample_few_shot, subsample_classes
from hicropl.data.protocols import RECOGNITION_DATASETS, UnknownProtocolError
from hicropl.engine.data import planned_evaluations
from hicropl.engine.run_config import DataConfig
from hicropl.errors import ConfigError


def test_protocol_names_and_aliases() -> None:
    assert list_protocols() == ["base2novel", "fewshot", "cross_dataset", "domain_generalization"]
    for alias, name in [("b2n", "base2novel"), ("base_to_novel", "base2novel"), ("Base2Novel", "base2novel"),
                        ("xd", "cross_dataset"), ("dg", "domain_generalization"), ("few-shot", "fewshot")]:  # fmt: skip
        assert get_protocol(alias).name == name


def test_unknown_protocol_suggests() -> None:
    with pytest.raises(UnknownProtocolError, match=r"'basetonvel' \(did you mean 'base_to_novel'"):
        get_protocol("basetonvel")
    with pytest.raises(ConfigError, match="Known: base2novel, fewshot"):
        get_protocol("zzz")


def _planned(protocol: str, dataset: str) -> list[tuple[str, str, str]]:
    return [(e.dataset, e.subset, e.name) for e in planned_evaluations(DataConfig(dataset, protocol=protocol))]


def test_base2novel() -> None:
    p = get_protocol("b2n")
    assert p.train_datasets == RECOGNITION_DATASETS and len(p.train_datasets) == 11
    assert p.shots_options == (16,) and p.class_subset_train == "base" and p.seeds == (1, 2, 3)
    assert _planned("b2n", "dtd") == [
        ("DescribableTextures", "base", "DescribableTextures (base)"),
        ("DescribableTextures", "new", "DescribableTextures (novel)"),
    ]


def test_fewshot() -> None:
    p = get_protocol("fewshot")
    assert p.shots_options == (1, 2, 4, 8, 16) and p.class_subset_train == "all"
    assert p.train_datasets == RECOGNITION_DATASETS
    assert _planned("fewshot", "EuroSAT") == [("EuroSAT", "all", "EuroSAT")]


def test_cross_dataset() -> None:
    p = get_protocol("xd")
    assert p.train_datasets == ("ImageNet",) and p.class_subset_train == "all"
    targets = [dataset for dataset, _, _ in _planned("xd", "imagenet")]
    assert targets[0] == "ImageNet" and targets[1:] == list(RECOGNITION_DATASETS[1:]) and len(targets) == 11


def test_domain_generalization() -> None:
    p = get_protocol("dg")
    assert p.train_datasets == ("ImageNet",)
    assert [dataset for dataset, _, _ in _planned("dg", "ImageNet")] == [
        "ImageNet", "ImageNetV2", "ImageNetSketch", "ImageNetA", "ImageNetR"
    ]  # fmt: skip


def test_invalid_protocol_definition() -> None:
    from hicropl.data.protocols import Protocol

    with pytest.raises(ConfigError, match="class subset 'some'"):
        Protocol("p", "t", ("A",), (), (1,), "some", ("all",))
    with pytest.raises(ConfigError, match="shots_options"):
        Protocol("p", "t", ("A",), (), (0,), "all", ("all",))


@pytest.mark.parametrize("name", ["base2novel", "fewshot", "cross_dataset", "domain_generalization"])
def test_protocol_data_side_on_miniature(mini, name: str) -> None:
    protocol = get_protocol(name)
    shots, seed, subset = protocol.shots_options[0], 1, protocol.class_subset_train
    for train_dataset in protocol.train_datasets:
        splits = build_dataset(train_dataset, mini.root)
        train = subsample_classes(sample_few_shot(splits, shots, seed), subset)
        assert train.train and train.val
        assert {d.label for d in train.train} == set(range(len(train.classnames)))
        for target in planned_evaluations(DataConfig(train_dataset, protocol=name)):
            evaluated = subsample_classes(build_dataset(target.dataset, mini.root), target.subset)
            assert evaluated.test, target
            assert all(0 <= d.label < len(evaluated.classnames) for d in evaluated.test)
            if target.dataset == train_dataset and target.subset == subset:
                assert evaluated.classnames == train.classnames
