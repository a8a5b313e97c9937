"""ToyWorld outside the demo: ``hicropl toyworld prepare``, ``--clip toyworld``, and a shipped ToyWorld
config for every registered method that trains on the 4-layer ToyWorld CLIP."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from hicropl.cli import main
from hicropl.data.registry import register_dataset, unregister_dataset
from hicropl.data.toyworld import datasets as toy_datasets
from hicropl.data.toyworld.datasets import ToyDataset, prepare_datasets
from hicropl.engine.config_files import packaged_config_names
from hicropl.engine.run import train
from hicropl.engine.run_config import load_run_config
from hicropl.methods.base import get_method_class, list_methods

TOYWORLD_CONFIGS = sorted(name.split("/", 1)[1] for name in packaged_config_names() if name.startswith("toyworld/"))


@pytest.fixture(scope="module")
def glyphs(tmp_path_factory: pytest.TempPathFactory, mini_glyphs: ToyDataset):
    """Eight ToyWorld glyph classes (two letters in four colours), two training images each: an epoch
    of any method takes seconds."""
    tiny = dataclasses.replace(
        mini_glyphs, name="ToyWorldGlyphsTiny", folder="toyworld_glyphs_tiny", items=mini_glyphs.items[:2]
    )
    root = tmp_path_factory.mktemp("toyworld_tiny")
    prepare_datasets(root, [])  # nothing named: nothing written, the root exists
    toy_datasets.prepare_dataset(tiny, root)
    register_dataset(tiny.spec, overwrite=True)
    yield tiny.name, root
    unregister_dataset(tiny.spec.name)


def test_every_registered_method_has_a_toyworld_config() -> None:
    # Methods the library ships (tests register helpers such as test_head, which need no config).
    shipped = [name for name in list_methods() if get_method_class(name).__module__.startswith("hicropl.")]
    assert shipped == TOYWORLD_CONFIGS


@pytest.mark.parametrize("method", TOYWORLD_CONFIGS)
def test_toyworld_config_trains_an_epoch_on_the_toyworld_clip(method: str, glyphs, tmp_path: Path) -> None:
    dataset, root = glyphs
    flags = {"data.dataset": dataset, "data.root": str(root), "data.shots": 1}
    overrides = ["train.num_workers=0"]
    if method == "linear_probe":  # its "epoch" is the closed-form fit: fewer L-BFGS iterations per C keep it quick
        overrides.append("method.max_iter=25")
    config = load_run_config(f"toyworld/{method}", flags, overrides)
    assert config.method_name == method and config.clip == "toyworld"  # the config file's clip: alias
    epochs = config.train.epochs
    config.train.epochs = min(epochs, 1)
    result = train(config, tmp_path / "run", quiet=True, progress=False)
    summary = result["summary"]
    expected = {"base", "novel", "hm"} if config.data.protocol == "base2novel" else {dataset}
    assert expected <= set(summary) and all(0.0 <= summary[key] <= 100.0 for key in expected), summary


def test_prepare_writes_the_datasets_into_a_missing_folder(
    tmp_path: Path, mini_glyphs: ToyDataset, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(toy_datasets, "TOYWORLD_DATASETS", (mini_glyphs,))
    root = tmp_path / "not" / "yet" / "data"
    assert main(["toyworld", "prepare", "--data-root", str(root)]) == 0
    assert capsys.readouterr().out.strip() == str(root / mini_glyphs.folder)
    assert (root / mini_glyphs.folder / "split.json").is_file()
    # The Python route creates a missing data root too.
    assert prepare_datasets(tmp_path / "other", [mini_glyphs.name]) == [tmp_path / "other" / mini_glyphs.folder]


def test_clip_toyworld_names_the_shipped_weights(capsys: pytest.CaptureFixture[str]) -> None:
    from hicropl import load_clip
    from hicropl.toyworld.weights import WEIGHTS_SHA256

    assert load_clip("toyworld").checksum == WEIGHTS_SHA256
    assert main(["info", "--clip", "toyworld"]) == 0
    assert "toyworld_clip.safetensors" in capsys.readouterr().out


def test_a_file_named_toyworld_wins_over_the_alias(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from hicropl.clip.shipped import shipped_clip

    assert shipped_clip("ToyWorld") is not None
    monkeypatch.chdir(tmp_path)
    (tmp_path / "toyworld").write_bytes(b"")
    assert shipped_clip("toyworld") is None


def test_clip_toyworld_on_the_command_line(glyphs, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    dataset, root = glyphs
    run = tmp_path / "zs"
    common = ["--data-root", str(root), "--clip", "toyworld"]
    assert main(["zero-shot", "--dataset", dataset, *common, "--output", str(run), "--quiet"]) == 0
    assert main(["eval", str(run), "--subset", "base", "--clip", "toyworld", "--quiet"]) == 0
    assert "base" in capsys.readouterr().out
