"""glibc malloc tuning for CPU runs: applied only where it should be, and effective where applied."""

from __future__ import annotations

import platform
import subprocess
import sys
import textwrap

import pytest
import torch

from hicropl.engine.host_allocator import tune_host_allocator_for

GLIBC = platform.system() == "Linux" and platform.libc_ver()[0] == "glibc"

# A fresh process allocates one 20 MB tensor and reports how much of it glibc served from mmap'ed
# blocks (mallinfo2's hblkhd), which are returned to the kernel on free and page-fault on reuse.
_PROBE = textwrap.dedent(
    """
    import ctypes, sys
    import torch
    from hicropl.engine.host_allocator import tune_host_allocator

    class MallInfo2(ctypes.Structure):
        _fields_ = [(name, ctypes.c_size_t) for name in
                    ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks",
                     "fordblks", "keepcost")]

    libc = ctypes.CDLL("libc.so.6")
    libc.mallinfo2.restype = MallInfo2
    tuned = tune_host_allocator() if sys.argv[1] == "tuned" else False
    before = libc.mallinfo2().hblkhd
    block = torch.empty(5 * 1024 * 1024)
    block.fill_(1.0)
    print(int(tuned), libc.mallinfo2().hblkhd - before)
    """
)


def _mmapped_bytes(mode: str) -> tuple[bool, int]:
    out = subprocess.run([sys.executable, "-c", _PROBE, mode], capture_output=True, text=True, check=True).stdout
    tuned, mmapped = out.split()
    return bool(int(tuned)), int(mmapped)


@pytest.mark.skipif(not GLIBC, reason="the tuning only exists for glibc")
def test_tuned_malloc_serves_activation_sized_blocks_from_the_heap():
    tuned, mmapped = _mmapped_bytes("tuned")
    assert tuned
    assert mmapped == 0
    # Untuned glibc hands a fresh process's first 20 MB block to mmap: the setting is what changes it.
    untuned, default_mmapped = _mmapped_bytes("default")
    assert not untuned
    assert default_mmapped >= 20 * 1024 * 1024


def test_only_cpu_runs_that_ask_for_it_are_tuned(monkeypatch):
    calls = []
    monkeypatch.setattr("hicropl.engine.host_allocator.tune_host_allocator", lambda: calls.append(1) or True)
    assert not tune_host_allocator_for(torch.device("cuda"), True)
    assert not tune_host_allocator_for(torch.device("cpu"), False)
    assert calls == []
    assert tune_host_allocator_for(torch.device("cpu"), True)
    assert calls == [1]
