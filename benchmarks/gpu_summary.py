"""Gathers what ``gpu_check.sh`` measured into one JSON: images/s, step time, peak GPU memory and the
fraction of the GPU's dense bf16 peak that the encoders reach.

    python benchmarks/gpu_summary.py --step bs32.json --step-imagenet bs32_in1k.json \\
        [--authors authors.json --authors-imagenet authors_in1k.json] --tests-exit 0 --out gpu_check.json

The encoders' fraction of peak is the FLOPs of the prompted image tower's and the text tower's
forward+backward (``components_flops`` of ``bench_step.py``) over their measured time, divided by
the dense bf16 tensor-core peak of the GPU named by CUDA (table below, from the vendors' data sheets;
null for a GPU it does not list).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import torch

# Dense (no sparsity) bf16 tensor-core peak, TFLOP/s, by a substring of torch.cuda.get_device_name().
BF16_PEAK_TFLOPS = {
    "H200": 989.0,
    "H100 SXM": 989.0,
    "H100 80GB HBM3": 989.0,
    "H100 NVL": 835.0,
    "H100 PCIe": 756.0,
    "H100": 756.0,  # an H100 the table does not tell apart: the lower (PCIe) figure
    "A100": 312.0,
    "L40S": 362.0,
    "L4": 121.0,
    "A10": 125.0,
    "RTX 4090": 165.0,
}


def bf16_peak_tflops(name: str) -> float | None:
    for key, value in BF16_PEAK_TFLOPS.items():  # the more specific names come first
        if key in name:
            return value
    return None


def _encoders(step: dict[str, Any], peak: float | None) -> dict[str, Any] | None:
    flops, seconds = step.get("components_flops"), step.get("components_s")
    if not flops or not seconds:
        return None
    parts = ("prompted_image_forward_backward", "text_forward_backward")
    total_flops = sum(flops[p] for p in parts)
    total_s = sum(seconds[p] for p in parts)
    achieved = total_flops / total_s / 1e12
    return {
        "tflops_per_s": achieved,
        "fraction_of_bf16_peak": None if peak is None else achieved / peak,
        "per_part_tflops_per_s": {p: flops[p] / seconds[p] / 1e12 for p in parts},
    }


def _row(step: dict[str, Any] | None, peak: float | None) -> dict[str, Any] | None:
    if step is None:
        return None
    setup = step.get("setup", {})
    return {
        "classes": setup.get("classes"),
        "batch": setup.get("batch"),
        "precision": setup.get("precision", "fp32"),
        "train_step_s": step["train_step_s"],
        "train_images_per_s": step.get("train_images_per_s", setup.get("batch", 0) / step["train_step_s"]["median"]),
        "eval_images_per_s": step["eval_images_per_s"],
        "eval_images_per_s_cached": step.get("eval_images_per_s_cached"),
        "peak_gpu_mib": step.get("peak_gpu_mib"),
        "peak_rss_mib": step.get("peak_rss_mib"),
        "encoders": _encoders(step, peak),
    }


def _read(path: str | None) -> dict[str, Any] | None:
    if not path or not Path(path).is_file():
        return None
    return json.loads(Path(path).read_text())


def summarize(args: argparse.Namespace) -> dict[str, Any]:
    gpu = torch.cuda.get_device_name() if torch.cuda.is_available() else None
    peak = bf16_peak_tflops(gpu) if gpu else None
    return {
        "gpu": gpu,
        "bf16_peak_tflops": peak,
        "cuda": torch.version.cuda,
        "cudnn": torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None,
        "torch": torch.__version__,
        "dry_run": gpu is None,
        "cuda_tests_exit_code": args.tests_exit,
        "hicropl": {"default_classes": _row(_read(args.step), peak), "imagenet": _row(_read(args.step_imagenet), peak)},
        "authors": {
            "default_classes": _row(_read(args.authors), None),
            "imagenet": _row(_read(args.authors_imagenet), None),
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--step", required=True)
    parser.add_argument("--step-imagenet", required=True)
    parser.add_argument("--authors", default=None)
    parser.add_argument("--authors-imagenet", default=None)
    parser.add_argument("--tests-exit", type=int, default=None)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    summary = summarize(args)
    Path(args.out).write_text(json.dumps(summary, indent=2))
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
