"""Mixed precision in one place: every forward pass runs inside :func:`autocast`."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Literal

import torch

Precision = Literal["fp32", "bf16", "fp16"]


def resolve_precision(requested: Precision, device: torch.device) -> Precision:
    """Low precision only on CUDA; the CPU always runs fp32 (CPU autocast is slower and lossy)."""
    return requested if device.type == "cuda" else "fp32"


@contextlib.contextmanager
def autocast(precision: Precision, device: torch.device) -> Iterator[None]:
    if resolve_precision(precision, device) == "fp32":
        yield
        return
    dtype = torch.bfloat16 if precision == "bf16" else torch.float16
    with torch.autocast(device_type=device.type, dtype=dtype):
        yield


def needs_grad_scaler(precision: Precision, device: torch.device) -> bool:
    return resolve_precision(precision, device) == "fp16"
