"""The four protocols as data, and each one run end to end (data side) on the miniature."""

from __future__ import annotations

import pytest

from hicropl.data import build_dataset, get_protocol, list_protocols, sample_few_shot, subsample_classes
from hicropl.data.protocols import RECOGNITION_DATASETS, UnknownProtocolError
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


def test_base2novel() -> None:
    p = get_protocol("b2n")
    assert p.train_datasets == RECOGNITION_DATASETS and len(p.train_datasets) == 11
    assert p.shots_options == (16,) and p.class_subset_train == "base"
    evaluations = p.evaluations("dtd")
    assert [(e.dataset, e.subset, e.label) for e in evaluations] == [
        ("DescribableTextures", "base", "DescribableTextures/base"),
        ("DescribableTextures", "new", "DescribableTextures/new"),
    ]
    assert len(p.runs()) == 11 * 3


def test_fewshot() -> None:
    p = get_protocol("fewshot")
    assert p.shots_options == (1, 2, 4, 8, 16) and p.class_subset_train == "all"
    assert [(e.dataset, e.subset) for e in p.evaluations("EuroSAT")] == [("EuroSAT", "all")]
    runs = p.runs(seeds=(1,))
    assert len(runs) == 11 * 5 and {r.shots for r in runs} == {1, 2, 4, 8, 16}
    assert len(p.runs(shots=(4,))) == 11 * 3
    with pytest.raises(ConfigError, match="not \\[3\\]"):
        p.runs(shots=(3,))


def test_cross_dataset() -> None:
    p = get_protocol("xd")
    assert p.train_datasets == ("ImageNet",) and p.model_selection == "last"
    targets = [e.dataset for e in p.evaluations("imagenet")]
    assert targets[0] == "ImageNet" and targets[1:] == list(RECOGNITION_DATASETS[1:]) and len(targets) == 11
    with pytest.raises(ConfigError, match="does not train on 'Caltech101'"):
        p.evaluations("Caltech101")


def test_domain_generalization() -> None:
    p = get_protocol("dg")
    assert [e.dataset for e in p.evaluations("ImageNet")] == [
        "ImageNet", "ImageNetV2", "ImageNetSketch", "ImageNetA", "ImageNetR"
    ]  # fmt: skip
    assert [r.train_dataset for r in p.runs()] == ["ImageNet"] * 3


def test_invalid_protocol_definition() -> None:
    from hicropl.data.protocols import Protocol

    with pytest.raises(ConfigError, match="class subset 'some'"):
        Protocol("p", "t", ("A",), (), (1,), "some", ("all",), "last")
    with pytest.raises(ConfigError, match="shots_options"):
        Protocol("p", "t", ("A",), (), (0,), "all", ("all",), "last")


@pytest.mark.parametrize("name", ["base2novel", "fewshot", "cross_dataset", "domain_generalization"])
def test_protocol_data_side_on_miniature(mini, name: str) -> None:
    protocol = get_protocol(name)
    for run in protocol.runs(seeds=(1,), shots=(protocol.shots_options[0],)):
        splits = build_dataset(run.train_dataset, mini.root)
        train = subsample_classes(sample_few_shot(splits, run.shots, run.seed), run.class_subset)
        assert train.train and train.val
        assert {d.label for d in train.train} == set(range(len(train.classnames)))
        for target in protocol.evaluations(run.train_dataset):
            evaluated = subsample_classes(build_dataset(target.dataset, mini.root), target.subset)
            assert evaluated.test, target
            assert all(0 <= d.label < len(evaluated.classnames) for d in evaluated.test)
            if target.dataset == run.train_dataset and target.subset == run.class_subset:
                assert evaluated.classnames == train.classnames
