"""``hicropl predict``: top-k classes of image files with a trained run."""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import torch

from hicropl.data.loader import load_image
from hicropl.data.transforms import build_transform
from hicropl.errors import ConfigError, DataError
from hicropl.methods.base import ClassSet, PromptMethod
from hicropl.precision import Precision, autocast

IMAGE_EXTENSIONS = {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm"}


def collect_images(inputs: Iterable[str | Path]) -> list[Path]:
    """Image files given directly, or found (recursively, sorted) in given folders."""
    found: list[Path] = []
    for item in inputs:
        path = Path(item).expanduser()
        if path.is_dir():
            found += sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS)
        elif path.is_file():
            found.append(path)
        else:
            raise DataError(f"{path} does not exist; pass image files or folders of images.")
    if not found:
        raise DataError("No images found in the given paths (looked for " + ", ".join(sorted(IMAGE_EXTENSIONS)) + ").")
    return found


def read_class_file(path: str | Path) -> list[str]:
    """One class name per line (blank lines and lines starting with # are ignored)."""
    file = Path(path).expanduser()
    if not file.is_file():
        raise ConfigError(
            f"The class file {file} does not exist; pass --classes-file with a text file, one name a line."
        )
    names = [line.strip() for line in file.read_text("utf-8").splitlines()]
    names = [n for n in names if n and not n.startswith("#")]
    if not names:
        raise ConfigError(f"The class file {file} lists no class names.")
    return names


def parse_class_list(text: str) -> list[str]:
    names = [part.strip() for part in text.split(",") if part.strip()]
    if not names:
        raise ConfigError("--classes needs comma-separated class names, e.g. --classes 'cat,dog,bird'.")
    return names


@torch.no_grad()
def predict(
    method: PromptMethod,
    images: Sequence[Path],
    classes: ClassSet,
    *,
    top_k: int = 5,
    batch_size: int = 64,
    precision: Precision = "fp32",
) -> list[dict[str, Any]]:
    """For each image: its path and the ``top_k`` classes with their probabilities."""
    if classes != method.classes:
        method.set_classes(classes)
    pre = method.backbone.preprocessing
    transform = build_transform(False, pre.image_size, pre.mean, pre.std)
    k = max(1, min(top_k, len(classes)))
    out: list[dict[str, Any]] = []
    with autocast(precision, method.device), method.evaluating():
        for begin in range(0, len(images), batch_size):
            chunk = images[begin : begin + batch_size]
            batch = torch.stack([transform(load_image(str(p))) for p in chunk]).to(method.device)
            probs = method(batch).logits.float().softmax(dim=-1)
            values, indices = probs.topk(k, dim=-1)
            for path, row_p, row_i in zip(chunk, values.tolist(), indices.tolist(), strict=True):
                out.append(
                    {
                        "image": os.fspath(path),
                        "predictions": [
                            {"class": classes.names[i], "probability": p} for p, i in zip(row_p, row_i, strict=True)
                        ],
                    }
                )
    return out


def predictions_csv(rows: Sequence[dict[str, Any]]) -> str:
    """Long format: image, rank, class, probability."""
    import csv
    import io

    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["image", "rank", "class", "probability"])
    for row in rows:
        for rank, pred in enumerate(row["predictions"], start=1):
            writer.writerow([row["image"], rank, pred["class"], f"{pred['probability']:.6f}"])
    return buffer.getvalue()
