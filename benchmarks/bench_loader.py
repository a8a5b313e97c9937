"""Throughput of the training data pipeline: JPEG decode + CLIP train transform, by worker count.

    python benchmarks/bench_loader.py --images 256 --batch 32 --json benchmarks/results/bench_loader_cpu.json

Writes ``--images`` synthetic 500x375 JPEGs (the typical size of the CoOp datasets) to a temp folder,
then times full passes of the engine's loader settings (pinned memory on CUDA, ``prefetch_factor``,
persistent workers) for each ``--workers`` value. Compare the images/s with the model's training
throughput (``bench_step.py``: batch / train_step_s) to see whether the loader keeps it fed.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.data import DataLoader

from hicropl.data.loader import ImageDataset
from hicropl.data.transforms import build_transform
from hicropl.data.types import Datum


def write_images(folder: Path, count: int, seed: int = 0) -> list[Datum]:
    rng = np.random.default_rng(seed)
    data = []
    for i in range(count):
        # Smooth random colour fields compress like photographs, unlike white noise.
        small = rng.integers(0, 256, size=(12, 16, 3), dtype=np.uint8)
        image = Image.fromarray(small).resize((500, 375), Image.BICUBIC)
        path = folder / f"{i:05d}.jpg"
        image.save(path, quality=90)
        data.append(Datum(impath=str(path), label=i % 10, classname=f"class {i % 10}"))
    return data


def images_per_second(data: list[Datum], batch: int, workers: int, prefetch: int, epochs: int) -> float:
    dataset = ImageDataset(data, build_transform(True))
    loader = DataLoader(
        dataset,
        batch_size=batch,
        shuffle=True,
        num_workers=workers,
        pin_memory=torch.cuda.is_available(),
        persistent_workers=workers > 0,
        prefetch_factor=prefetch if workers > 0 else None,
    )
    for _ in loader:  # warm-up pass: worker start-up and file cache
        pass
    start = time.perf_counter()
    for _ in range(epochs):
        for _ in loader:
            pass
    return epochs * len(data) / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=256)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--workers", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--prefetch", type=int, default=4)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    torch.set_num_threads(1)  # the transforms' tensor ops; decoding is single-threaded anyway
    with tempfile.TemporaryDirectory() as tmp:
        data = write_images(Path(tmp), args.images)
        rates = {str(w): images_per_second(data, args.batch, w, args.prefetch, args.epochs) for w in args.workers}
    result = {
        "images_per_s_by_workers": rates,
        "setup": {
            **vars(args),
            "cpus": os.cpu_count(),
            "torch": torch.__version__,
            "machine": platform.machine(),
            "date": time.strftime("%Y-%m-%d"),
        },
    }
    for workers, rate in rates.items():
        print(f"workers {workers}: {rate:7.1f} images/s")
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
