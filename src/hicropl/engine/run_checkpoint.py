"""Run checkpoints: trainable state only, written atomically with a SHA-256 checksum beside them
(``checkpoint.pt.sha256``, :mod:`hicropl.checksums`), verified on load, loadable with ``weights_only=True``."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from hicropl.atomic import is_disk_full
from hicropl.checksums import checked_torch_save, sidecar_of, verify
from hicropl.errors import CheckpointError

FORMAT = "hicropl-run-checkpoint"
VERSION = 1


def assert_no_backbone_tensors(tensors: Iterable[torch.Tensor], backbone: nn.Module, what: str) -> None:
    """Refuse any tensor that is, or shares memory with, a frozen backbone parameter or buffer."""
    frozen = {t.data_ptr() for t in backbone.state_dict().values() if t.numel() > 0}
    frozen_ids = {id(p) for p in backbone.parameters()}
    for tensor in tensors:
        if id(tensor) in frozen_ids or (tensor.numel() > 0 and tensor.data_ptr() in frozen):
            raise AssertionError(f"{what} contains a frozen backbone tensor; only trainable state belongs there")


def atomic_save(obj: Any, path: Path) -> None:
    """Write ``path`` atomically, with its checksum; a failed write (a full disk) becomes one error saying
    what was kept."""
    try:
        checked_torch_save(obj, path)
    except OSError as exc:
        reason = "the disk is full" if is_disk_full(exc) else str(exc)
        kept = f"the previous {path.name} is intact" if path.exists() else f"no {path.name} was written"
        raise CheckpointError(
            f"Could not write {path}: {reason}; {kept}. Free space (or fix the folder), then rerun the same "
            "command to resume."
        ) from exc


def load_checkpoint(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise CheckpointError(f"No checkpoint at {path}; the run folder was not trained (run `hicropl train`).")
    if verify(path) is False:  # no checksum (a folder from before checksums, an import) is not checked
        raise CheckpointError(
            f"{path} does not match its checksum in {sidecar_of(path).name}: it was changed or damaged after it "
            "was written, and loading it would give wrong results. Restore it from a backup, or train the run "
            "again (the same command with --overwrite)."
        )
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise CheckpointError(f"Cannot read {path} ({type(exc).__name__}: {exc}); it may be truncated.") from exc
    if not isinstance(state, Mapping) or state.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a hicropl run checkpoint.")
    return dict(state)


def method_state(method: nn.Module, backbone: nn.Module) -> dict[str, torch.Tensor]:
    """The method's state dict, detached to CPU, checked to hold no backbone tensor."""
    state = method.state_dict()
    assert_no_backbone_tensors(state.values(), backbone, "the method's state dict")
    return {key: value.detach().cpu().clone() for key, value in state.items()}
