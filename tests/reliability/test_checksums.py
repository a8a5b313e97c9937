"""Checksums beside checkpoints and caches: damage after the write is caught, never used silently."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest
import torch

from hicropl.checksums import checked_torch_save, sidecar_of, verify
from hicropl.engine.run import train
from hicropl.errors import CheckpointError
from tests.cli.cli_helpers import run_cli, train_args
from tests.engine.engine_testkit import tiny_run_config

HICROPL = ("method.n_ctx=2", "method.depth=4", "method.boundary=2", "train.epochs=1")


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


def test_damaged_cache_entries_are_recomputed_with_a_warning(tmp_path, data_root, tiny_checkpoint, caplog):
    # HiCroPL reads all three caches: few-shot split, frozen image features (val and test), text features.
    config = tiny_run_config(data_root, tiny_checkpoint, *HICROPL, "train.selection=best_val", method="hicropl")
    first = train(config, tmp_path / "first", quiet=True, progress=False)
    cache = Path(os.environ["HICROPL_CACHE"])
    entries = {
        kind: sorted(p for p in (cache / kind).iterdir() if not p.name.endswith(".sha256"))
        for kind in ("fewshot", "image_features", "text_features")
    }
    assert all(entries.values())
    for files in entries.values():
        for file in files:
            _flip_bytes(file, 4)
    with caplog.at_level(logging.WARNING, logger="hicropl"):
        again = train(config, tmp_path / "again", quiet=True, progress=False)
    assert again["evaluations"] == first["evaluations"]
    assert again["data"] == first["data"]
    warned = [r.getMessage() for r in caplog.records if "does not match its checksum" in r.getMessage()]
    for kind, what in (("fewshot", "few-shot"), ("image_features", "frozen image feature"), ("text_features", "text feature")):
        for file in entries[kind]:
            assert any(f"The {what} cache {file} does not match" in m for m in warned), file
            assert verify(file) is True  # recomputed and written again


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
