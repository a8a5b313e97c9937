"""Few-shot sampling: counts, determinism (also across processes), JSON cache, CoOp pickle reuse, safety."""

from __future__ import annotations

import json
import os
import pickle
import random
import subprocess
import sys
import textwrap
import types
from collections import Counter
from dataclasses import replace
from pathlib import Path

import pytest

from hicropl.checksums import checked_write_text
from hicropl.data import DatasetSplits, UnsafePickleError, build_dataset, few_shot_split, sample_few_shot
from hicropl.data.fewshot import coop_cache_path, data_hash
from hicropl.errors import ConfigError, DataError

SRC = str(Path(__file__).resolve().parents[2] / "src")


def per_class(data) -> Counter:
    return Counter(d.label for d in data)


@pytest.fixture(scope="module")
def pets(mini) -> DatasetSplits:
    return build_dataset("OxfordPets", mini.root)


@pytest.mark.parametrize("shots", [1, 2, 3, 4, 16])
def test_k_per_class_and_min_k_4_for_val(pets: DatasetSplits, shots: int) -> None:
    out = sample_few_shot(pets, shots, seed=1)
    full_train, full_val = per_class(pets.train), per_class(pets.val)
    assert per_class(out.train) == {c: min(shots, n) for c, n in full_train.items()}
    assert per_class(out.val) == {c: min(shots, 4, n) for c, n in full_val.items()}
    assert out.test == pets.test and out.classnames == pets.classnames
    assert set(out.train) <= set(pets.train) and set(out.val) <= set(pets.val)
    assert len(set(out.train)) == len(out.train)


@pytest.mark.parametrize("shots", [None, 0, -1])
def test_all_data_values(pets: DatasetSplits, shots) -> None:
    assert sample_few_shot(pets, shots, seed=1) is pets
    assert few_shot_split(pets, shots, seed=1).source == "all"


def test_bad_shots(pets: DatasetSplits) -> None:
    with pytest.raises(ConfigError, match="shots must be an integer"):
        sample_few_shot(pets, 2.5, seed=1)  # type: ignore[arg-type]


def test_same_seed_same_set_independent_of_input_order(pets: DatasetSplits) -> None:
    a = sample_few_shot(pets, 2, seed=3)
    shuffled = list(pets.train)
    random.Random(0).shuffle(shuffled)
    b = sample_few_shot(replace(pets, train=shuffled, val=pets.val[::-1]), 2, seed=3)
    assert a.train == b.train and a.val == b.val
    c = sample_few_shot(pets, 2, seed=4)
    assert c.train != a.train


def test_same_seed_same_set_across_processes(pets: DatasetSplits, mini) -> None:
    here = sample_few_shot(pets, 2, seed=7)
    code = textwrap.dedent(
        f"""
        import json, sys
        from hicropl.data import build_dataset, sample_few_shot
        out = sample_few_shot(build_dataset("OxfordPets", {str(mini.root)!r}), 2, seed=7)
        json.dump([[d.impath for d in out.train], [d.impath for d in out.val]], sys.stdout)
        """
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345", "PYTHONPATH": SRC}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 0, result.stderr
    train, val = json.loads(result.stdout)
    assert train == [d.impath for d in here.train] and val == [d.impath for d in here.val]


def test_imagenet_samples_train_only_and_keeps_val_as_test(mini) -> None:
    imagenet = build_dataset("ImageNet", mini.root)
    out = sample_few_shot(imagenet, 1, seed=1)
    assert len(out.train) == len(imagenet.classnames)
    assert out.val is imagenet.val and out.val == out.test == imagenet.test
    assert out.val_is_test


def test_test_only_dataset_cannot_be_sampled(mini) -> None:
    with pytest.raises(DataError, match="ImageNetA has no training images"):
        sample_few_shot(build_dataset("ImageNetA", mini.root), 1, seed=1)


def test_json_cache_is_written_and_reused(pets: DatasetSplits, tmp_path: Path) -> None:
    first = few_shot_split(pets, 2, seed=1, cache_dir=tmp_path)
    assert first.source == "sampled" and first.path is not None and Path(first.path).is_file()
    name = Path(first.path).name
    assert name.startswith("OxfordPets-shot_2-seed_1-") and first.data_hash[:16] in name
    second = few_shot_split(pets, 2, seed=1, cache_dir=tmp_path)
    assert second.source == "json-cache" and second.splits == first.splits
    # The cache is what is read: edit it (a valid other choice, with its checksum) and the edit shows.
    payload = json.loads(Path(first.path).read_text())
    payload["train"] = payload["train"][::-1]
    checked_write_text(first.path, json.dumps(payload))
    assert few_shot_split(pets, 2, seed=1, cache_dir=tmp_path).splits.train == first.splits.train[::-1]


def test_json_cache_key_follows_the_image_list(pets: DatasetSplits, tmp_path: Path) -> None:
    a = few_shot_split(pets, 2, seed=1, cache_dir=tmp_path)
    fewer = replace(pets, train=pets.train[1:])
    b = few_shot_split(fewer, 2, seed=1, cache_dir=tmp_path)
    assert b.source == "sampled" and a.path != b.path and a.data_hash != data_hash(fewer)


def test_damaged_json_cache_is_reported(pets: DatasetSplits, tmp_path: Path) -> None:
    first = few_shot_split(pets, 2, seed=1, cache_dir=tmp_path)
    # Broken when written (a damaged file fails its checksum first: tests/reliability/test_checksums.py)
    checked_write_text(first.path, "{broken")
    with pytest.raises(DataError, match=r"cannot read the few-shot cache .*delete it"):
        few_shot_split(pets, 2, seed=1, cache_dir=tmp_path)


def test_a_failed_cache_write_is_reported_and_leaves_no_temp_file(
    pets: DatasetSplits, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def full_disk(src: str, dst: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", full_disk)
    with pytest.raises(DataError, match=r"cannot write the few-shot cache .*No space left.*writable cache folder"):
        few_shot_split(pets, 2, seed=1, cache_dir=tmp_path)
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []


# --- CoOp's pickled cache -------------------------------------------------------------------------


def _install_fake_dassl(monkeypatch: pytest.MonkeyPatch, slots: bool) -> type:
    """A stand-in for dassl.data.datasets.base_dataset.Datum, importable by pickle under that name."""
    if slots:

        class Datum:
            __slots__ = ("_classname", "_domain", "_impath", "_label")

            def __init__(self, impath: str, label: int, domain: int = 0, classname: str = "") -> None:
                self._impath, self._label, self._domain, self._classname = impath, label, domain, classname

    else:

        class Datum:  # type: ignore[no-redef]
            def __init__(self, impath: str, label: int, domain: int = 0, classname: str = "") -> None:
                self._impath, self._label, self._domain, self._classname = impath, label, domain, classname

    module = types.ModuleType("dassl.data.datasets.base_dataset")
    Datum.__module__ = module.__name__
    Datum.__qualname__ = "Datum"
    module.Datum = Datum  # type: ignore[attr-defined]
    for name in ("dassl", "dassl.data", "dassl.data.datasets"):
        monkeypatch.setitem(sys.modules, name, types.ModuleType(name))
    monkeypatch.setitem(sys.modules, module.__name__, module)
    return Datum


def _write_coop_cache(
    path: Path, datum_cls: type, train, val, old_root: str, new_root: str, protocol: int = pickle.HIGHEST_PROTOCOL
) -> None:
    def convert(items):
        return [datum_cls(d.impath.replace(new_root, old_root), d.label, 0, d.classname) for d in items]

    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {"train": convert(train)} if val is None else {"train": convert(train), "val": convert(val)}
    path.write_bytes(pickle.dumps(payload, protocol=protocol))


@pytest.mark.parametrize(("slots", "protocol"), [(False, pickle.HIGHEST_PROTOCOL), (True, 4), (False, 0)])
def test_coop_pickle_is_reused_and_rerooted(make_mini, monkeypatch, slots: bool, protocol: int) -> None:
    m = make_mini(["OxfordPets"])
    pets = build_dataset("OxfordPets", m.root)
    folder = m.root / "oxford_pets"
    # CoOp's choice differs from ours: take the *last* image of each class.
    train = [max((d for d in pets.train if d.label == c), key=lambda d: d.impath) for c in range(4)]
    val = [min((d for d in pets.val if d.label == c), key=lambda d: d.impath) for c in range(4)]
    datum_cls = _install_fake_dassl(monkeypatch, slots)
    old_root = "/home/someone/DATA/oxford_pets"
    _write_coop_cache(coop_cache_path(folder, 1, 2), datum_cls, train, val, old_root, str(folder), protocol)
    result = few_shot_split(pets, 1, seed=2, dataset_dir=folder)
    assert result.source == "coop-cache" and result.path == str(folder / "split_fewshot/shot_1-seed_2.pkl")
    assert result.splits.train == train and result.splits.val == val
    assert result.splits.test == pets.test
    # Another (K, seed) has no pickle: sampled as usual.
    assert few_shot_split(pets, 2, seed=2, dataset_dir=folder).source == "sampled"


def test_coop_pickle_for_imagenet_has_train_only(make_mini, monkeypatch) -> None:
    m = make_mini(["ImageNet"])
    imagenet = build_dataset("ImageNet", m.root)
    folder = m.root / "imagenet"
    datum_cls = _install_fake_dassl(monkeypatch, slots=False)
    train = imagenet.train[:3]
    _write_coop_cache(coop_cache_path(folder, 1, 1), datum_cls, train, None, "/x/imagenet", str(folder))
    out = sample_few_shot(imagenet, 1, seed=1, dataset_dir=folder)
    assert out.train == train and out.val is imagenet.val


def test_coop_pickle_with_unknown_images_is_reported(make_mini, monkeypatch) -> None:
    m = make_mini(["OxfordPets"])
    pets = build_dataset("OxfordPets", m.root)
    folder = m.root / "oxford_pets"
    datum_cls = _install_fake_dassl(monkeypatch, slots=False)
    ghost = replace(pets.train[0], impath=str(folder / "images/Sphynx_99.jpg"))
    _write_coop_cache(coop_cache_path(folder, 1, 1), datum_cls, [ghost], pets.val[:1], "/old", str(folder))
    with pytest.raises(DataError, match=r"(?s)1 of 1 images in the CoOp few-shot cache .*/old/images/Sphynx_99.jpg"):
        sample_few_shot(pets, 1, seed=1, dataset_dir=folder)


def test_coop_pickle_with_other_labels_is_reported(make_mini, monkeypatch) -> None:
    m = make_mini(["OxfordPets"])
    pets = build_dataset("OxfordPets", m.root)
    folder = m.root / "oxford_pets"
    datum_cls = _install_fake_dassl(monkeypatch, slots=False)
    wrong = replace(pets.train[0], label=pets.train[0].label + 1)
    _write_coop_cache(coop_cache_path(folder, 1, 1), datum_cls, [wrong], pets.val[:1], "/old", str(folder))
    with pytest.raises(DataError, match="another class order"):
        sample_few_shot(pets, 1, seed=1, dataset_dir=folder)


class _Evil:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_malicious_pickle_is_refused_and_nothing_runs(make_mini, tmp_path: Path) -> None:
    m = make_mini(["OxfordPets"])
    pets = build_dataset("OxfordPets", m.root)
    folder = m.root / "oxford_pets"
    marker = tmp_path / "pwned"
    path = coop_cache_path(folder, 1, 1)
    path.parent.mkdir(parents=True)
    path.write_bytes(pickle.dumps({"train": [_Evil(marker)], "val": []}))
    with pytest.raises(UnsafePickleError, match=r"NOT loaded \(refusing to load (posix|os)\.system") as info:
        sample_few_shot(pets, 1, seed=1, dataset_dir=folder)
    assert isinstance(info.value, DataError)
    assert str(path) in str(info.value)
    assert not marker.exists()


def test_pickle_with_other_builtins_is_refused(make_mini) -> None:
    m = make_mini(["OxfordPets"])
    pets = build_dataset("OxfordPets", m.root)
    folder = m.root / "oxford_pets"
    path = coop_cache_path(folder, 1, 1)
    path.parent.mkdir(parents=True)
    # A hand-written protocol-0 pickle calling builtins.eval("1+1").
    path.write_bytes(b"cbuiltins\neval\n(V1+1\ntR.")
    with pytest.raises(UnsafePickleError, match=r"builtins\.eval"):
        sample_few_shot(pets, 1, seed=1, dataset_dir=folder)


def test_pickle_that_is_not_a_cache(make_mini) -> None:
    m = make_mini(["OxfordPets"])
    pets = build_dataset("OxfordPets", m.root)
    folder = m.root / "oxford_pets"
    path = coop_cache_path(folder, 1, 1)
    path.parent.mkdir(parents=True)
    path.write_bytes(pickle.dumps([1, 2, 3]))
    with pytest.raises(DataError, match="not a dict with 'train' and 'val'"):
        sample_few_shot(pets, 1, seed=1, dataset_dir=folder)
    path.write_bytes(b"\x80\x05garbage")
    with pytest.raises(DataError, match="cannot read the few-shot cache"):
        sample_few_shot(pets, 1, seed=1, dataset_dir=folder)
