"""A full disk during a save: one line naming the file and the fix; the previous checkpoint survives."""

from __future__ import annotations

import errno
import json
import os
import subprocess

import pytest
import torch

import hicropl.atomic
from hicropl.atomic import DiskFullError, atomic_write_text
from hicropl.checksums import verify
from hicropl.engine.run import train
from hicropl.errors import exit_code_of
from hicropl.results.run_folder import RunFolder
from tests.engine.engine_testkit import tiny_run_config


@pytest.fixture
def small_disk(tmp_path):
    """``fill()`` uses up the space of the folder it returns: a real 4 MB tmpfs where this process may
    mount one (root), else a folder whose writes through hicropl.atomic fail with ENOSPC once filled."""
    folder = tmp_path / "disk"
    folder.mkdir()
    mounted = (
        os.geteuid() == 0
        and subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(folder)], capture_output=True
        ).returncode
        == 0
    )
    full = []

    def fill() -> None:
        if mounted:
            fd = os.open(folder / "filler", os.O_WRONLY | os.O_CREAT)
            try:
                while True:
                    os.write(fd, b"\0" * 65536)
            except OSError as exc:
                assert exc.errno == errno.ENOSPC
            finally:
                os.close(fd)
        full.append(True)

    if not mounted:
        real_write = hicropl.atomic._RecordingWriter.write

        def write(self, data):
            if full:
                self.error = OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
                raise self.error
            return real_write(self, data)

        hicropl.atomic._RecordingWriter.write = write
    try:
        yield folder, fill
    finally:
        if mounted:
            subprocess.run(["umount", "-l", str(folder)], check=True)
        else:
            hicropl.atomic._RecordingWriter.write = real_write


def test_a_full_disk_while_checkpointing_is_one_line_and_keeps_the_last_checkpoint(
    small_disk, data_root, tiny_checkpoint, capsys
):
    disk, fill = small_disk
    run = disk / "run"
    copy = disk.parent / "saved"  # what the run folder holds when the disk fills up

    def fill_after_the_first_epoch(state):
        if state.global_step == 5:
            copy.mkdir()
            for name in ("checkpoint.pt", "checkpoint.pt.sha256"):
                (copy / name).write_bytes((run / name).read_bytes())
            fill()

    config = tiny_run_config(data_root, tiny_checkpoint, "train.epochs=3", "train.batch_size=2")
    code = exit_code_of(
        lambda: train(config, run, quiet=True, progress=False, step_callbacks=[fill_after_the_first_epoch]) and 0
    )
    err = capsys.readouterr().err
    assert code == 2 and len(err.splitlines()) == 1, err
    assert err.startswith(f"error: Could not write {run / 'checkpoint.pt'}: the disk is full; the previous ")
    assert "rerun the same command to resume" in err
    for name in ("checkpoint.pt", "checkpoint.pt.sha256"):
        assert (run / name).read_bytes() == (copy / name).read_bytes()
    assert verify(run / "checkpoint.pt") is True
    assert torch.load(run / "checkpoint.pt", weights_only=True)["train_state"]["epoch"] == 1  # epochs done
    assert not [p.name for p in run.iterdir() if p.name.endswith(".tmp")]


def test_every_save_reports_a_full_disk_in_one_line(small_disk):
    disk, fill = small_disk
    target = disk / "result.json"
    atomic_write_text(target, "{}")
    fill()
    with pytest.raises(DiskFullError) as raised:
        atomic_write_text(target, json.dumps({"x": "y" * 200_000}))
    assert str(raised.value) == (
        f"Could not write {target}: the disk is full (No space left on device); the previous result.json is intact. "
        "Free space on that file system (or write elsewhere: --output, HICROPL_CACHE), then rerun the same command."
    )
    assert target.read_text() == "{}"
    assert not [p.name for p in disk.iterdir() if p.name.endswith(".tmp")]


def test_metrics_append_on_a_full_disk_is_one_line(tmp_path, monkeypatch):
    folder = RunFolder.at(tmp_path)
    real_open = open

    def full_open(path, *args, **kwargs):
        handle = real_open(path, *args, **kwargs)
        if str(path).endswith("metrics.jsonl"):
            handle.close()
            raise OSError(errno.ENOSPC, "No space left on device")
        return handle

    monkeypatch.setattr("builtins.open", full_open)
    with pytest.raises(DiskFullError, match=r"Could not write .*metrics\.jsonl: the disk is full .*earlier lines"):
        folder.append_metrics({"epoch": 1})
