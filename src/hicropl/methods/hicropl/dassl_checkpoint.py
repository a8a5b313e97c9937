"""Loading the authors' Dassl checkpoints (``prompt_learner/model-best.pth.tar``, ``model.pth.tar-N``)
into the ``official`` HiCroPL variant.

A Dassl checkpoint is ``torch.save({"state_dict": prompt_learner.state_dict(), "epoch": ...,
"optimizer": ..., ...})``. Its keys are the prompt learner's (``ctx``, ``cross_prompts_text.0`` ...),
possibly in fp16 (the authors trained in fp16). Class-dependent buffers (``token_prefix``,
``token_suffix``) and the frozen teacher tower (``ZS_image_encoder.*``) are not learned state and
are rebuilt from the current class names and backbone, as the authors' own loader does.
"""

from __future__ import annotations

from pathlib import Path

import torch

from hicropl.errors import CheckpointError
from hicropl.methods.hicropl.method import HiCroPL

_IGNORED_PREFIXES = ("token_prefix", "token_suffix", "ZS_image_encoder.")


def find_dassl_checkpoint(path: str | Path) -> Path:
    """Accept the checkpoint file, its ``prompt_learner`` folder, or the run folder above it."""
    path = Path(path).expanduser()
    if path.is_file():
        return path
    for folder in (path / "prompt_learner", path):
        if (folder / "model-best.pth.tar").is_file():
            return folder / "model-best.pth.tar"
        numbered = sorted(folder.glob("model.pth.tar-*"), key=lambda p: int(p.name.rsplit("-", 1)[-1] or 0))
        if numbered:
            return numbered[-1]
    raise CheckpointError(
        f"No Dassl checkpoint under {path}: expected prompt_learner/model-best.pth.tar or "
        "prompt_learner/model.pth.tar-<epoch> (the authors' output layout)."
    )


def load_dassl_checkpoint(method: HiCroPL, path: str | Path) -> dict[str, object]:
    """Load the authors' prompt-learner weights into an ``official`` HiCroPL; returns the metadata."""
    if method.config.variant != "official":
        raise CheckpointError(
            "Dassl checkpoints come from the authors' code, whose behaviour only the official variant "
            "reproduces: build the method with variant=official."
        )
    file = find_dassl_checkpoint(path)
    try:
        payload = torch.load(file, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise CheckpointError(f"Could not read the Dassl checkpoint {file}: {exc}") from exc
    state = payload.get("state_dict", payload) if isinstance(payload, dict) else None
    if not isinstance(state, dict):
        raise CheckpointError(f"{file} holds no state_dict")
    state = {key.removeprefix("module.").removeprefix("prompt_learner."): value for key, value in state.items()}
    own = method.state_dict()
    wanted = {key.removeprefix("prompt_learner."): key for key in own}
    missing = sorted(set(wanted) - set(state))
    if missing:
        raise CheckpointError(
            f"{file} lacks {len(missing)} prompt-learner tensors ({', '.join(missing[:4])} ...). Check that "
            "n_ctx, depth and boundary match the run that produced it."
        )
    loaded = {}
    for short, full in wanted.items():
        value = state[short]
        if value.shape != own[full].shape:
            raise CheckpointError(
                f"{file}: {short} has shape {tuple(value.shape)}, the model expects {tuple(own[full].shape)}. "
                "Use the same n_ctx, depth, boundary and backbone as the checkpoint's run."
            )
        loaded[full] = value.to(own[full].dtype)
    unexpected = [k for k in state if k not in wanted and not k.startswith(_IGNORED_PREFIXES)]
    if unexpected:
        raise CheckpointError(f"{file} has tensors this model does not know: {', '.join(unexpected[:5])}")
    method.load_state_dict(loaded)
    return {key: value for key, value in payload.items() if key != "state_dict" and not isinstance(value, dict)}
