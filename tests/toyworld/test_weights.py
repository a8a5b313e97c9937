"""The shipped tiny CLIP: checksum-verified, loads by inference, reproduces its recorded zero-shot numbers."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from hicropl.clip.weights_file import file_sha256
from hicropl.data.toyworld.datasets import TOYWORLD_DATASETS
from hicropl.errors import CheckpointError
from hicropl.toyworld import weights as shipped
from hicropl.toyworld.probe import zero_shot_accuracy


def test_shipped_weights_match_their_checksum_and_are_small() -> None:
    path = shipped.toyworld_weights_path()
    assert file_sha256(path) == shipped.WEIGHTS_SHA256
    assert path.stat().st_size < 10 * 2**20
    assert f"--seed {shipped.PRETRAIN_SEED}" in shipped.PRETRAIN_COMMAND


def test_corrupted_weights_give_a_checksum_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    damaged = tmp_path / shipped.WEIGHTS_FILE
    shutil.copyfile(shipped.shipped_weights_file(), damaged)
    data = bytearray(damaged.read_bytes())
    data[len(data) // 2] ^= 0xFF
    damaged.write_bytes(bytes(data))
    monkeypatch.setattr(shipped, "shipped_weights_file", lambda: damaged)
    with pytest.raises(shipped.WeightsChecksumError, match=r"Checksum mismatch.*reinstall"):
        shipped.load_toyworld_clip()
    monkeypatch.setattr(shipped, "shipped_weights_file", lambda: tmp_path / "absent.safetensors")
    with pytest.raises(CheckpointError, match="missing"):
        shipped.toyworld_weights_path()


def test_shipped_weights_reproduce_recorded_zero_shot_accuracy() -> None:
    backbone = shipped.load_toyworld_clip()
    assert backbone.tokenizer.context_length == 32
    for dataset in TOYWORLD_DATASETS:
        for subset in ("base", "new"):
            recorded = shipped.ZERO_SHOT_ACCURACY[dataset.name][subset]
            assert zero_shot_accuracy(backbone, dataset, subset) == pytest.approx(recorded, abs=0.05)
