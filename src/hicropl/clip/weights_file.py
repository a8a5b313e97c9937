"""Reading CLIP checkpoints from disk safely, and inferring their architecture from tensor shapes.

Three on-disk forms are accepted: OpenAI TorchScript archives (the official ``ViT-B-16.pt``), plain
state dicts saved with ``torch.save`` (optionally wrapped in ``{"state_dict": ...}`` and/or with
``module.`` prefixes from DDP), and ``.safetensors`` files. Plain pickles are only ever read with
``weights_only=True``.
"""

from __future__ import annotations

import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from hicropl.checksums import file_sha256 as file_sha256  # re-exported: the one SHA-256 of a file
from hicropl.errors import CheckpointError

# Keys that OpenAI's archives carry as plain ints next to the weights.
_OPENAI_META_KEYS = ("input_resolution", "context_length", "vocab_size")
_REQUIRED_KEYS = (
    "token_embedding.weight",
    "positional_embedding",
    "ln_final.weight",
    "text_projection",
    "visual.conv1.weight",
    "visual.positional_embedding",
)


def _is_torchscript(path: Path) -> bool:
    # TorchScript archives are zip files holding serialised code next to the tensors.
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
    except (zipfile.BadZipFile, OSError):
        return False
    return any(name.split("/", 1)[-1].startswith("code/") for name in names) and any(
        name.endswith("constants.pkl") for name in names
    )


def _read_raw(path: Path) -> Mapping[str, Any]:
    if path.suffix == ".safetensors":
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        try:
            return load_file(str(path), device="cpu")
        except (SafetensorError, OSError, ValueError) as exc:
            raise CheckpointError(
                f"{path} is not a readable safetensors file ({exc}). It may be truncated or corrupt: download it again."
            ) from exc
    if _is_torchscript(path):
        try:
            return torch.jit.load(str(path), map_location="cpu").state_dict()
        except Exception as exc:  # TorchScript raises many unrelated types for damaged archives
            raise CheckpointError(
                f"{path} looks like a TorchScript archive but could not be read ({exc}). It may be "
                "truncated or corrupt: download it again."
            ) from exc
    try:
        loaded = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as exc:
        text = str(exc)
        if "Weights only load failed" in text:
            raise CheckpointError(
                f"{path} contains Python objects other than tensors, so it was not loaded (only "
                "weights are read, for safety). Re-save it as a plain state dict: "
                "torch.save(model.state_dict(), path)."
            ) from exc
        first_line = text.splitlines()[0] if text else ""
        raise CheckpointError(
            f"{path} could not be read as a PyTorch checkpoint ({type(exc).__name__}: {first_line}). "
            "It may be empty, truncated or corrupt: download it again."
        ) from exc
    if not isinstance(loaded, Mapping):
        raise CheckpointError(f"{path} holds a {type(loaded).__name__}, not a state dict: it is not a CLIP checkpoint.")
    return loaded


def _unwrap(state: Mapping[str, Any]) -> dict[str, torch.Tensor]:
    for wrapper in ("state_dict", "model", "model_state_dict"):
        inner = state.get(wrapper)
        if isinstance(inner, Mapping) and any(isinstance(v, torch.Tensor) for v in inner.values()):
            state = inner
            break
    tensors: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        if not isinstance(value, torch.Tensor):
            continue
        name = key
        while name.startswith("module."):
            name = name[len("module.") :]
        # attn_mask is a derived buffer that traced/scripted models carry; the model rebuilds it.
        if name in _OPENAI_META_KEYS or name == "attn_mask" or name.endswith(".attn_mask"):
            continue
        tensors[name] = value
    return tensors


def read_clip_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """Return a CLIP state dict (OpenAI / open_clip key names) from any supported file.

    Raises :class:`CheckpointError` with a specific message for a missing, empty, corrupt or
    non-CLIP file.
    """
    path = Path(path).expanduser()
    if not path.exists():
        raise CheckpointError(
            f"CLIP weights not found: {path}. Pass the path of a checkpoint file (e.g. OpenAI's "
            "ViT-B-16.pt) or an open_clip pretrained tag such as 'ViT-B-16:openai'."
        )
    if path.is_dir():
        raise CheckpointError(f"{path} is a folder; pass the checkpoint file inside it.")
    if path.stat().st_size == 0:
        raise CheckpointError(f"{path} is empty (0 bytes): the download probably failed. Download it again.")
    state = _unwrap(_read_raw(path))
    missing = [key for key in _REQUIRED_KEYS if key not in state]
    if missing:
        sample = ", ".join(sorted(state)[:5]) or "no tensors"
        raise CheckpointError(
            f"{path} is not a CLIP ViT checkpoint: it lacks {', '.join(missing)} (its first keys: {sample})."
        )
    return state


def infer_clip_config(state: Mapping[str, torch.Tensor]) -> dict[str, Any]:
    """Infer an open_clip model config (``embed_dim``, ``vision_cfg``, ``text_cfg``) from shapes.

    Head counts are not visible in the shapes; like OpenAI's loader we assume 64-wide heads.
    """
    conv = state["visual.conv1.weight"]
    vision_width, patch_size = int(conv.shape[0]), int(conv.shape[-1])
    grid = round((state["visual.positional_embedding"].shape[0] - 1) ** 0.5)
    vision_layers = len({k.split(".")[3] for k in state if k.startswith("visual.transformer.resblocks.")})
    text_width = int(state["ln_final.weight"].shape[0])
    text_layers = len({k.split(".")[2] for k in state if k.startswith("transformer.resblocks.")})
    return {
        "embed_dim": int(state["text_projection"].shape[1]),
        "vision_cfg": {
            "image_size": patch_size * grid,
            "layers": vision_layers,
            "width": vision_width,
            "patch_size": patch_size,
            "head_width": 64,
        },
        "text_cfg": {
            "context_length": int(state["positional_embedding"].shape[0]),
            "vocab_size": int(state["token_embedding.weight"].shape[0]),
            "width": text_width,
            "heads": max(1, text_width // 64),
            "layers": text_layers,
        },
    }


# Fields that the shapes determine; heads and activation are not visible in a state dict.
_SHAPE_FIELDS = {
    "embed_dim": ("embed_dim",),
    "vision image_size": ("vision_cfg", "image_size"),
    "vision layers": ("vision_cfg", "layers"),
    "vision width": ("vision_cfg", "width"),
    "vision patch_size": ("vision_cfg", "patch_size"),
    "text context_length": ("text_cfg", "context_length"),
    "text vocab_size": ("text_cfg", "vocab_size"),
    "text width": ("text_cfg", "width"),
    "text layers": ("text_cfg", "layers"),
}


def _get(cfg: Mapping[str, Any], path: tuple[str, ...]) -> Any:
    value: Any = cfg
    for part in path:
        if not isinstance(value, Mapping) or part not in value:
            return None
        value = value[part]
    return value


def config_mismatches(expected: Mapping[str, Any], inferred: Mapping[str, Any]) -> list[str]:
    """List ``field: expected != found`` for every shape field where two configs disagree."""
    problems = []
    for label, path in _SHAPE_FIELDS.items():
        want, got = _get(expected, path), _get(inferred, path)
        if want is not None and got is not None and want != got:
            problems.append(f"{label}: {want} (model) vs {got} (checkpoint)")
    return problems
