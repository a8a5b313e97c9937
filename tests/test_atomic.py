"""Atomic writes: the new content or the old file, and never a temp file left behind."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest
import torch

from hicropl.atomic import atomic_torch_save, atomic_write_bytes, atomic_write_text


def _folder_listing(path: Path) -> list[str]:
    return sorted(p.name for p in path.parent.iterdir())


def test_each_writer_creates_folders_and_replaces_the_file(tmp_path: Path) -> None:
    text, raw, tensor = tmp_path / "a" / "t.txt", tmp_path / "b" / "b.bin", tmp_path / "c" / "x.pt"
    for content in ("first", "second ü\n"):
        atomic_write_text(text, content)
        assert text.read_text("utf-8") == content
    atomic_write_bytes(raw, b"\x00\xff")
    assert raw.read_bytes() == b"\x00\xff"
    atomic_torch_save({"w": torch.arange(3)}, tensor)
    assert torch.equal(torch.load(tensor, weights_only=True)["w"], torch.arange(3))
    assert [_folder_listing(p) for p in (text, raw, tensor)] == [["t.txt"], ["b.bin"], ["x.pt"]]


@pytest.mark.parametrize(
    ("failing_write", "error"),
    [
        (lambda path: atomic_write_text(path, "half written \ud800"), UnicodeEncodeError),  # a lone surrogate
        (lambda path: atomic_write_bytes(path, "not bytes"), TypeError),
        (lambda path: atomic_torch_save(threading.Lock(), path), TypeError),  # a lock cannot be pickled
    ],
    ids=["text", "bytes", "torch"],
)
def test_a_failing_write_leaves_the_old_file_and_no_temp_file(tmp_path: Path, failing_write, error) -> None:
    path = tmp_path / "kept.txt"
    path.write_text("old", encoding="utf-8")
    with pytest.raises(error):
        failing_write(path)
    assert path.read_text("utf-8") == "old"
    assert _folder_listing(path) == ["kept.txt"]


def test_a_failing_rename_removes_the_complete_temp_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "kept.txt"
    path.write_text("old", encoding="utf-8")

    def full_disk(src: str, dst: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", full_disk)
    with pytest.raises(OSError, match="No space left"):
        atomic_write_text(path, "new")
    assert path.read_text("utf-8") == "old"
    assert _folder_listing(path) == ["kept.txt"]
