"""Mixed precision in one place: every forward pass runs inside :func:`autocast`.

``auto`` (the default) is bf16 on a GPU that has it and fp32 everywhere else. An explicit ``bf16`` is
honoured on the CPU too (CPUs with AVX512-BF16 or AMX run bf16 matmuls several times faster than fp32);
``fp16`` needs a gradient scaler and fast fp16 arithmetic, which only GPUs have, so it is refused on
the CPU rather than silently replaced.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from functools import lru_cache
from typing import Literal

import torch

from hicropl.errors import ConfigError

Precision = Literal["fp32", "bf16", "fp16", "auto"]
ResolvedPrecision = Literal["fp32", "bf16", "fp16"]

log = logging.getLogger("hicropl.precision")


@lru_cache(maxsize=1)
def cpu_has_fast_bf16() -> bool:
    """Whether oneDNN finds native bf16 instructions (AVX512-BF16, AMX or Arm BF16) on this CPU."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def resolve_precision(requested: Precision, device: torch.device) -> ResolvedPrecision:
    """The precision a run on ``device`` uses for ``requested``: what the run record states."""
    if requested == "auto":
        if device.type == "cuda" and torch.cuda.is_bf16_supported(including_emulation=False):
            return "bf16"
        return "fp32"
    if device.type == "cpu" and requested == "fp16":
        raise ConfigError(
            "train.precision = 'fp16' needs a GPU (gradient scaling, fast fp16 arithmetic); "
            "on the CPU use bf16 or fp32 (or auto)."
        )
    return requested


@contextlib.contextmanager
def autocast(precision: Precision, device: torch.device) -> Iterator[None]:
    resolved = resolve_precision(precision, device)
    if resolved == "fp32":
        yield
        return
    if device.type == "cpu" and not cpu_has_fast_bf16():
        _warn_slow_cpu_bf16()
    dtype = torch.bfloat16 if resolved == "bf16" else torch.float16
    with torch.autocast(device_type=device.type, dtype=dtype):
        yield


@lru_cache(maxsize=1)
def _warn_slow_cpu_bf16() -> None:
    log.warning("bf16 was asked for, but this CPU has no native bf16 instructions: it runs emulated (slow).")


def needs_grad_scaler(precision: Precision, device: torch.device) -> bool:
    return resolve_precision(precision, device) == "fp16"
