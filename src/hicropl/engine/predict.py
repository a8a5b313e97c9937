"""``hicropl predict``: top-k classes of image files with a trained run."""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import torch

from hicropl.data.loader import image_is_valid, load_image
from hicropl.data.transforms import build_transform
from hicropl.errors import ConfigError, DataError
from hicropl.methods.base import ClassSet, PromptMethod
from hicropl.precision import Precision, autocast
from hicropl.results.run_folder import RunFolder

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


def check_output_file(path: str | Path) -> Path:
    """Where ``--output`` will be written, checked before any work: its folder exists and is writable and
    it is not itself a folder. A missing folder is an error, not created, so a mistyped path fails at once."""
    file = Path(path).expanduser()
    parent = file.parent
    if file.is_dir():
        raise ConfigError(f"--output {file} is a folder; pass a file name, e.g. --output {file / 'predictions.json'}")
    if not parent.is_dir():
        raise ConfigError(
            f"--output {file}: the folder {parent} does not exist; create it (mkdir -p {parent}) or choose another "
            "--output."
        )
    if not os.access(parent, os.W_OK):
        raise ConfigError(f"--output {file}: the folder {parent} is not writable; choose another --output.")
    return file


def custom_class_set(names: Sequence[str], descriptions: str | Path | None) -> ClassSet:
    """Class names given by the user, with their descriptions file (``{name: [sentence, ...]}``) if any."""
    if descriptions is None:
        return ClassSet(tuple(names))
    file = Path(descriptions).expanduser()
    if not file.is_file():
        raise ConfigError(
            f"The descriptions file {file} does not exist; pass --descriptions with a JSON file mapping each "
            "class name to a list of sentences."
        )
    return ClassSet(tuple(names), description_file=str(file))


def template_fallback_override(run_dir: str | Path, overrides: Sequence[str]) -> str | None:
    """The override that lets the run's method build frozen text for classes that have no descriptions
    (``method.description_fallback=true``), when the method needs descriptions and the run has not
    already allowed the fallback; None otherwise."""
    from hicropl.engine.restore import read_run_config

    method = read_run_config(RunFolder.at(run_dir), overrides).method
    if getattr(method, "description_fallback", True) or getattr(method, "frozen_text", "") not in (
        "llm_mean",
        "llm_random",
    ):
        return None
    return "method.description_fallback=true"


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
    skip_corrupt: bool = False,
) -> tuple[list[dict[str, Any]], list[Path]]:
    """For each image: its path and the ``top_k`` classes with their probabilities; and the images left
    out because they cannot be decoded (only with ``skip_corrupt``; otherwise such an image is an error)."""
    skipped: list[Path] = []
    if skip_corrupt:
        skipped = [p for p in images if not image_is_valid(str(p))]
        broken = set(skipped)
        images = [p for p in images if p not in broken]
        if not images:
            raise DataError(f"None of the {len(skipped)} images can be decoded (first: {skipped[0]}).")
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
    return out, skipped


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
