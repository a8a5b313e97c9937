"""Wall-clock timing shared by the benchmark scripts (stdlib and torch only, so that
``bench_authors.py`` can use it without importing hicropl)."""

from __future__ import annotations

import time
from collections.abc import Callable

import torch


def timed(fn: Callable[[], object], warmup: int, reps: int) -> list[float]:
    """Seconds per call of ``fn`` over ``reps`` calls after ``warmup`` untimed ones."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        fn()
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return times
