"""Checksums beside checkpoints and caches: damage after the write is caught, never used silently."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import pytest
import torch

from hicropl.checksums import checked_torch_save, sidecar_of, verify
from hicropl.clip.features import ensemble_features
from hicropl.clip.image_cache import FrozenImageCache
from hicropl.data import build_dataset, few_shot_split
from hicropl.engine.run import train
from hicropl.errors import CheckpointError
from tests.cli.cli_helpers import run_cli, train_args
from tests.engine.engine_testkit import tiny_run_config


def _flip_bytes(path: Path, count: int = 64) -> None:
    """Overwrite ``count`` bytes in the middle of the file (inside a tensor's data, for a checkpoint)."""
    data = bytearray(path.read_bytes())
    middle = len(data) // 2
    data[middle : middle + count] = bytes(255 - b for b in data[middle : middle + count])
    path.write_bytes(bytes(data))


def test_a_damaged_checkpoint_is_one_error_naming_the_file_and_the_fix(tmp_path, capsys, data_root, tiny_checkpoint):
    run = tmp_path / "run"
    code, _, err = run_cli(capsys, *train_args(run, data_root, tiny_checkpoint))
    assert code == 0, err
    _flip_bytes(run / "checkpoint.pt")
    code, out, err = run_cli(capsys, "eval", run, "--subset", "novel")
    assert code == 2 and out == ""
    assert err.strip() == (
        f"error: {run / 'checkpoint.pt'} does not match its checksum in checkpoint.pt.sha256: it was changed or "
        "damaged after it was written, and loading it would give wrong results. Restore it from a backup, or train "
        "the run again (the same command with --overwrite)."
    )


def test_resuming_from_a_damaged_checkpoint_is_refused(tmp_path, data_root, tiny_checkpoint):
    def stop(state):
        if state.global_step == 5:
            raise KeyboardInterrupt

    config = tiny_run_config(data_root, tiny_checkpoint, "train.epochs=3")
    folder = tmp_path / "run"
    with pytest.raises(Exception, match="Rerun the same command"):
        train(config, folder, quiet=True, progress=False, step_callbacks=[stop])
    _flip_bytes(folder / "checkpoint.pt", 8)
    with pytest.raises(CheckpointError, match="does not match its checksum"):
        train(config, folder, quiet=True, progress=False)


def _warned(caplog, what: str, path: Path) -> bool:
    expected = f"The {what} cache {path} does not match its checksum"
    return any(expected in record.getMessage() for record in caplog.records)


def test_a_damaged_image_feature_cache_entry_is_recomputed(tiny_backbone, tmp_path, caplog):
    images = torch.randn(5, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    loader = [(images, torch.zeros(5), torch.arange(5))]
    cache = FrozenImageCache(tmp_path)
    key = {"dataset": "EuroSAT", "split": "test", "image_paths": [f"/x/{i}.jpg" for i in range(5)], "transform": "t"}
    first = cache.features(tiny_backbone, loader=loader, **key)
    (entry,) = [p for p in cache.directory.iterdir() if p.suffix == ".pt"]
    _flip_bytes(entry, 4)
    with caplog.at_level(logging.WARNING, logger="hicropl"):
        again = cache.features(tiny_backbone, loader=loader, **key)
    assert _warned(caplog, "frozen image feature", entry)
    assert (cache.hits, cache.misses) == (0, 2) and torch.equal(again, first) and verify(entry) is True


def test_a_damaged_text_feature_cache_entry_is_recomputed(tiny_backbone, tmp_path, caplog):
    groups = [["a photo of a red."], ["a photo of a green."]]
    first = ensemble_features(tiny_backbone, groups, tmp_path)
    (entry,) = (tmp_path / "text_features").glob("*.pt")
    _flip_bytes(entry, 4)
    with caplog.at_level(logging.WARNING, logger="hicropl"):
        again = ensemble_features(tiny_backbone, groups, tmp_path)
    assert _warned(caplog, "text feature", entry)
    assert torch.equal(again, first) and verify(entry) is True


def test_a_damaged_few_shot_cache_is_resampled(data_root, tmp_path, caplog):
    splits = build_dataset("EuroSAT", data_root)
    first = few_shot_split(splits, 2, seed=1, cache_dir=tmp_path)
    entry = Path(first.path)
    payload = json.loads(entry.read_text())
    payload["train"].reverse()  # still a valid cache of this dataset, so only the checksum can tell
    entry.write_text(json.dumps(payload))
    with caplog.at_level(logging.WARNING, logger="hicropl"):
        again = few_shot_split(splits, 2, seed=1, cache_dir=tmp_path)
    assert _warned(caplog, "few-shot", entry)
    assert again.source == "sampled" and again.splits == first.splits and verify(entry) is True


def test_a_write_killed_between_renames_still_verifies(tmp_path, monkeypatch):
    path = tmp_path / "checkpoint.pt"
    checked_torch_save({"w": torch.zeros(3)}, path)
    real_replace = os.replace

    def killed_before_the_rename(src, dst):
        if Path(dst) == path:
            raise KeyboardInterrupt  # a kill right before the checkpoint's rename
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", killed_before_the_rename)
    with pytest.raises(KeyboardInterrupt):
        checked_torch_save({"w": torch.ones(3)}, path)
    assert verify(path) is True and torch.equal(torch.load(path, weights_only=True)["w"], torch.zeros(3))
    assert len(sidecar_of(path).read_text().splitlines()) == 2  # the new hash was listed first

    def killed_after_the_rename(src, dst):
        real_replace(src, dst)
        if Path(dst) == path:
            raise KeyboardInterrupt  # the checksum's final write never happens

    monkeypatch.setattr(os, "replace", killed_after_the_rename)
    with pytest.raises(KeyboardInterrupt):
        checked_torch_save({"w": torch.full((3,), 2.0)}, path)
    assert verify(path) is True and torch.equal(torch.load(path, weights_only=True)["w"], torch.full((3,), 2.0))


def test_a_checkpoint_without_a_checksum_still_loads(tmp_path, capsys, data_root, tiny_checkpoint):
    run = tmp_path / "run"
    assert run_cli(capsys, *train_args(run, data_root, tiny_checkpoint))[0] == 0
    sidecar_of(run / "checkpoint.pt").unlink()  # a run folder written before checksums
    code, _, err = run_cli(capsys, "eval", run, "--subset", "novel", "--quiet")
    assert code == 0, err
