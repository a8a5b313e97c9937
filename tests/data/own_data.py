"""Users' own datasets as they would make them: a folder of class folders, or a CSV of path,label."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from tests.data.synthetic import write_image

CLASSES = ("cat", "dog", "red_fox", "zebra")


def make_class_folders(folder: Path, classes: Sequence[str] = CLASSES, per_class: int = 10) -> Path:
    """``folder/<class>/<n>.jpg`` (every fourth image a PNG, one class with a nested sub-folder)."""
    for c, name in enumerate(classes):
        for i in range(per_class):
            sub = "more/" if c == 0 and i % 2 else ""
            write_image(folder / name / f"{sub}{i:03d}.{'png' if i % 4 == 3 else 'jpg'}", seed=100 * c + i)
    return folder


def make_csv(folder: Path, classes: Sequence[str] = CLASSES, per_class: int = 10, split: bool = False) -> Path:
    """``folder/labels.csv`` listing ``folder/images/<class>_<n>.jpg`` (paths relative to the CSV)."""
    lines = ["path,label,split" if split else "path,label"]
    for c, name in enumerate(classes):
        for i in range(per_class):
            relpath = f"images/{name}_{i}.jpg"
            write_image(folder / relpath, seed=1000 + 100 * c + i)
            part = ("train", "train", "train", "train", "train", "val", "val", "test", "test", "test")[i % 10]
            lines.append(f"{relpath},{name},{part}" if split else f"{relpath},{name}")
    file = folder / "labels.csv"
    file.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return file
