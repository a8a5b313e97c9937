"""Generated datasets: written once, read through the registry, base/novel the CoOp way, safe folders."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hicropl.data.registry import build_dataset, get_dataset_spec, register_dataset, unregister_dataset
from hicropl.data.subsample import subsample_classes
from hicropl.data.toyworld.datasets import (
    MANIFEST,
    TOYWORLD_SPECS,
    ToyDataset,
    is_current,
    prepare_dataset,
    register_toyworld_datasets,
)
from hicropl.errors import DataError


def test_toyworld_datasets_register_by_name_and_alias() -> None:
    register_toyworld_datasets()
    register_toyworld_datasets()  # idempotent
    assert get_dataset_spec("toyworld-shapes").name == "ToyWorldShapes"
    assert get_dataset_spec("tw_glyphs").name == "ToyWorldGlyphs"
    assert [s.num_classes for s in TOYWORLD_SPECS] == [80, 80]


def test_generated_folder_reads_back_with_base_and_novel(mini_root: Path, mini_shapes: ToyDataset) -> None:
    spec = mini_shapes.spec
    register_dataset(spec, overwrite=True)
    try:
        splits = build_dataset(spec.name, mini_root)
    finally:
        unregister_dataset(spec.name)
    assert splits.classnames == mini_shapes.classnames
    assert (len(splits.train), len(splits.val), len(splits.test)) == (160, 80, 160)
    assert all(Path(d.impath).is_file() for d in splits.test[:5])
    descriptions = json.loads(Path(splits.description_file).read_text("utf-8"))
    assert set(descriptions) == set(splits.classnames)
    base, novel = subsample_classes(splits, "base"), subsample_classes(splits, "new")
    assert base.classnames == splits.classnames[:40] and novel.classnames == splits.classnames[40:]
    assert {d.label for d in novel.test} == set(range(40))


def test_generation_is_deterministic_and_reused(tmp_path: Path, mini_root: Path, mini_glyphs: ToyDataset) -> None:
    folder = prepare_dataset(mini_glyphs, tmp_path)
    ours = sorted(p.relative_to(folder) for p in folder.rglob("*.png"))
    theirs = mini_root / mini_glyphs.folder
    assert ours == sorted(p.relative_to(theirs) for p in theirs.rglob("*.png"))
    for rel in ours[::37]:
        assert (folder / rel).read_bytes() == (theirs / rel).read_bytes()
    stamp = (folder / MANIFEST).stat().st_mtime_ns
    assert prepare_dataset(mini_glyphs, tmp_path) == folder
    assert (folder / MANIFEST).stat().st_mtime_ns == stamp  # not regenerated
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary folders left


def test_stale_generation_is_replaced_but_foreign_folders_are_refused(tmp_path: Path, mini_glyphs: ToyDataset) -> None:
    folder = prepare_dataset(mini_glyphs, tmp_path)
    manifest = json.loads((folder / MANIFEST).read_text("utf-8"))
    manifest["version"] = -1
    (folder / MANIFEST).write_text(json.dumps(manifest), encoding="utf-8")
    assert not is_current(folder, mini_glyphs)
    prepare_dataset(mini_glyphs, tmp_path)
    assert is_current(folder, mini_glyphs)

    foreign = tmp_path / "other"
    (foreign / mini_glyphs.folder).mkdir(parents=True)
    (foreign / mini_glyphs.folder / "mine.txt").write_text("keep me", encoding="utf-8")
    with pytest.raises(DataError, match="not made by ToyWorld"):
        prepare_dataset(mini_glyphs, foreign)
    assert (foreign / mini_glyphs.folder / "mine.txt").read_text("utf-8") == "keep me"
    # A missing data root is created (the Python route used to refuse it); a file is refused.
    assert prepare_dataset(mini_glyphs, tmp_path / "missing" / "root") == tmp_path / "missing" / "root" / folder.name
    (tmp_path / "a_file").write_text("x", encoding="utf-8")
    with pytest.raises(DataError, match="is a file; pass a folder"):
        prepare_dataset(mini_glyphs, tmp_path / "a_file")


def test_missing_dataset_says_how_to_generate_it(tmp_path: Path) -> None:
    register_toyworld_datasets()
    with pytest.raises(DataError, match="generated, not downloaded"):
        build_dataset("ToyWorldShapes", tmp_path)


def test_toyworld_datasets_are_builtin_registry_entries() -> None:
    # In a fresh interpreter (no demo has run): `hicropl train --dataset ToyWorldShapes` must resolve.
    import subprocess
    import sys

    code = (
        "from hicropl.data.registry import get_dataset_spec, list_datasets;"
        "print(get_dataset_spec('ToyWorldShapes').name, 'ToyWorldGlyphs' in list_datasets())"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["ToyWorldShapes", "True"]
