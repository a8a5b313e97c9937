"""The authors' Dassl checkpoints (``model-best.pth.tar``, ``model.pth.tar-N``) of any method that
:mod:`hicropl.methods.authors_names` tables: found, read safely, and loaded into this library's method.

Dassl's trainers save ``{"state_dict": module.state_dict(), "epoch": ..., "optimizer": ...,
"scheduler": ..., "val_result": ...}`` for the module they registered: the prompt learner (CoOp, CoCoOp,
KgCoOp, HiCroPL; names without ``prompt_learner.``) or the whole ``CustomCLIP`` (IVLP, MaPLe), often in
fp16. Each name is classified by the method's table: its own tensors are loaded (cast to the method's
dtype); class-dependent buffers (``token_prefix``/``token_suffix``) are rebuilt for the current classes,
as the authors' own ``load_model`` does, after checking their class count; CLIP's frozen weights, saved by
whole-model checkpoints and HiCroPL's teacher tower, are compared with the backbone's instead of loaded;
modules the authors' forward never uses are ignored. Any other name, a missing tensor or a wrong shape is
one error that names them.

Reading is ``torch.load(..., weights_only=True)``. A Dassl warmup scheduler's state holds two Python
objects, its ``successor`` scheduler and that scheduler's optimizer; their names are resolved to a
passive stand-in that only stores their state (nothing of theirs is imported or run). Any other Python
object refuses the file.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from hicropl.errors import CheckpointError
from hicropl.methods.authors_names import PROMPT_LEARNER_CHECKPOINTS, state_names
from hicropl.methods.authors_shapes import required_config, setting_hints
from hicropl.methods.base import PromptMethod

BEST = "model-best.pth.tar"
NUMBERED = "model.pth.tar-"


def _epoch_of(path: Path) -> int:
    suffix = path.name[len(NUMBERED) :]
    return int(suffix) if suffix.isdigit() else -1


def _checkpoint_in(folder: Path) -> Path | None:
    if (folder / BEST).is_file():
        return folder / BEST
    numbered = sorted((p for p in folder.glob(f"{NUMBERED}*") if p.is_file()), key=_epoch_of)
    return numbered[-1] if numbered else None


def find_dassl_checkpoint(path: str | Path) -> Path:
    """The checkpoint file itself, or the one in a folder: ``model-best.pth.tar``, else the highest
    ``model.pth.tar-N``, in the folder or in the one subfolder Dassl wrote it to (``prompt_learner/``,
    ``MultiModalPromptLearner/``, ``VLPromptLearner/``)."""
    path = Path(path).expanduser()
    if path.is_file():
        return path
    if not path.is_dir():
        raise CheckpointError(f"{path} does not exist; pass the authors' checkpoint file or its output folder.")
    found = _checkpoint_in(path)
    if found is not None:
        return found
    candidates = [c for c in (_checkpoint_in(sub) for sub in sorted(path.iterdir()) if sub.is_dir()) if c]
    if len(candidates) == 1:
        return candidates[0]
    if candidates:
        raise CheckpointError(
            f"{path} holds several Dassl checkpoints ({', '.join(str(c) for c in candidates)}); pass one file."
        )
    raise CheckpointError(
        f"No Dassl checkpoint under {path}: expected <module>/{BEST} or <module>/{NUMBERED}<epoch> "
        "(the authors' output layout, e.g. prompt_learner/model.pth.tar-50), or pass the file itself."
    )


class PickledTrainingObject:
    """Passive stand-in for an optimizer or LR scheduler pickled inside a Dassl checkpoint: keeps its state."""

    def __setstate__(self, state: Any) -> None:
        self.state = state


def _plain_dict(*_default_factory: Any) -> dict[Any, Any]:
    # The successor's optimizer keeps its per-parameter state in a defaultdict(dict).
    return {}


# What Dassl's build_optimizer / build_lr_scheduler create with torch's classes (dassl/optim/).
_TRAINING_OBJECTS = (
    "torch.optim.sgd.SGD",
    "torch.optim.adam.Adam",
    "torch.optim.adamw.AdamW",
    "torch.optim.rmsprop.RMSprop",
    "torch.optim.lr_scheduler.CosineAnnealingLR",
    "torch.optim.lr_scheduler.StepLR",
    "torch.optim.lr_scheduler.MultiStepLR",
)
_STAND_INS: list[Any] = [
    *((PickledTrainingObject, name) for name in _TRAINING_OBJECTS),
    (_plain_dict, "collections.defaultdict"),
    (dict, "builtins.dict"),
]


@dataclass(frozen=True)
class DasslCheckpoint:
    """A Dassl checkpoint as saved: its tensors under the authors' names (``module.`` removed)."""

    file: Path
    state: dict[str, torch.Tensor]
    epoch: int | None
    val_result: float | None

    @property
    def dtypes(self) -> list[str]:
        return sorted({str(value.dtype).removeprefix("torch.") for value in self.state.values()})


def _torch_load(file: Path) -> Any:
    allow = getattr(torch.serialization, "safe_globals", None)  # torch >= 2.5
    if allow is None:
        return torch.load(file, map_location="cpu", weights_only=True)
    with allow(_STAND_INS):
        return torch.load(file, map_location="cpu", weights_only=True)


def read_dassl_checkpoint(path: str | Path) -> DasslCheckpoint:
    """Read a Dassl checkpoint with ``weights_only=True``; anything else is one error saying what it is."""
    file = find_dassl_checkpoint(path)
    try:
        payload = _torch_load(file)
    except Exception as exc:
        text = str(exc)
        # The weights-only unpickler's refusals of a global, of calling or of building an object.
        if any(sign in text for sign in ("GLOBAL", "unrecognized function", "Can only")):
            named = re.search(r"GLOBAL ([\w.]+)|function (\S+)", text)
            what = f" ({named[1] or named[2]})" if named else ""
            if named and named[1] in _TRAINING_OBJECTS:  # torch < 2.5 cannot map them to the stand-in
                raise CheckpointError(
                    f"{file} holds Dassl's optimizer and scheduler objects{what}; reading them without running "
                    "code needs torch >= 2.5 (pip install -U torch)."
                ) from None
            raise CheckpointError(
                f"{file} holds Python objects{what} besides tensors and Dassl's optimizer and scheduler state, so "
                "it was NOT loaded: checkpoints are read with weights_only=True, which runs no code from the file. "
                "An authors' checkpoint holds only those; do not trust this file."
            ) from None
        # torch's refusal text advises weights_only=False; keep only its reason.
        reason = re.search(r"WeightsUnpickler error:\s*(.+)", text)
        detail = reason[1].strip() if reason else text.strip().splitlines()[0] if text.strip() else type(exc).__name__
        raise CheckpointError(
            f"{file} is not a readable PyTorch checkpoint ({detail}); it may be truncated or another kind of file."
        ) from exc
    state = payload.get("state_dict") if isinstance(payload, Mapping) else None
    if not isinstance(state, Mapping):
        raise CheckpointError(
            f"{file} is not a Dassl checkpoint: it holds no state_dict (a Dassl trainer saves "
            "{'state_dict': ..., 'epoch': ..., 'optimizer': ..., 'scheduler': ...})."
        )
    tensors = {str(key).removeprefix("module."): value for key, value in state.items()}
    odd = sorted(key for key, value in tensors.items() if not isinstance(value, torch.Tensor))
    if odd:
        raise CheckpointError(f"{file}: the state_dict entries {', '.join(odd[:5])} are not tensors.")
    epoch = payload.get("epoch")
    val = payload.get("val_result")
    return DasslCheckpoint(
        file=file,
        state=tensors,
        epoch=int(epoch) if isinstance(epoch, int) else None,
        val_result=float(val) if isinstance(val, (int, float)) else None,
    )


@dataclass
class AuthorsState:
    """A checkpoint's tensors sorted by what the method's table says they are."""

    ours: dict[str, torch.Tensor] = field(default_factory=dict)  # our name -> value
    source: dict[str, str] = field(default_factory=dict)  # our name -> the authors' name
    frozen: dict[str, tuple[str, torch.Tensor]] = field(default_factory=dict)  # authors' name -> (CLIP name, value)
    rebuilt: dict[str, torch.Tensor] = field(default_factory=dict)
    unused: list[str] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)

    def shapes(self) -> dict[str, tuple[int, ...]]:
        return {name: tuple(value.shape) for name, value in self.ours.items()}


def authors_state(method: str, state: Mapping[str, torch.Tensor]) -> AuthorsState:
    """Classify a checkpoint's tensors (names as Dassl saved them) with ``method``'s table."""
    names = state_names(method)
    prefix = "prompt_learner." if method in PROMPT_LEARNER_CHECKPOINTS else ""
    out = AuthorsState()
    for saved, value in state.items():
        authors = saved if saved.startswith(prefix) else prefix + saved
        try:
            kind, target = names.classify(authors)
        except KeyError:
            out.unknown.append(saved)
            continue
        if kind == "ours" and target is not None:
            if value.numel() == 0:
                continue  # zero-token prompts (IVLP with N_CTX_VISION 0): the authors build them, we do not
            out.ours[target] = value
            out.source[target] = saved
        elif kind == "frozen" and target is not None:
            out.frozen[saved] = (target, value)
        elif kind == "rebuilt":
            out.rebuilt[saved] = value
        else:
            out.unused.append(saved)
    return out


@dataclass(frozen=True)
class LoadReport:
    """What loading took from a checkpoint."""

    loaded: int
    rebuilt: list[str]
    frozen_checked: int
    unused: list[str]


def _listing(names: list[str], limit: int = 6) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def load_authors_state(method: PromptMethod, checkpoint: DasslCheckpoint) -> LoadReport:
    """Load the authors' tensors of ``checkpoint`` into ``method`` (built for the authors' settings and
    classes); any mismatch is one :class:`CheckpointError` naming the tensors and the setting to change."""
    file, name = checkpoint.file, method.name
    for key, value in required_config(name).items():
        if getattr(method.config, key) != value:
            raise CheckpointError(
                f"{file} comes from the authors' {name} code, whose behaviour only {key}={value} reproduces: "
                f"build the method with {key}={value} (--set method.{key}={value})."
            )
    state = authors_state(name, checkpoint.state)
    hint = setting_hints(name, state.shapes(), method.config)
    if state.unknown:
        unknown = sorted(state.unknown, key=lambda n: (n.startswith(_CLIP_TOWERS), n))
        raise CheckpointError(
            f"{file} holds tensors that the authors' {name} does not have: {_listing(unknown)}. Is it a checkpoint "
            "of another method? Pass that method's name to --method."
        )
    own = method.state_dict()
    extra = sorted(set(state.ours) - set(own))
    missing = sorted(set(own) - set(state.ours))
    if extra or missing:
        parts = []
        if missing:
            parts.append(f"lacks {_listing(missing)}")
        if extra:
            parts.append(f"has {_listing([f'{state.source[k]} ({k})' for k in extra])}, which this model lacks")
        hint = hint or "Its other tensors agree with these settings: is the file complete, and the authors' own?"
        raise CheckpointError(f"{file} does not fit {name} as configured: it {'; it '.join(parts)}. {hint}")
    hint = (
        hint
        or "Its tensors agree with these settings: pass the --clip the authors trained with (prompt widths follow it)."
    )
    for key in own:
        found, expected = tuple(state.ours[key].shape), tuple(own[key].shape)
        if found != expected:
            raise CheckpointError(
                f"{file}: {state.source[key]} has shape {found}, but {name} as configured expects {expected} "
                f"(its {key}). {hint}"
            )
    _check_class_count(method, state, file)
    _check_frozen(method, state, file)
    method.load_state_dict({key: value.to(own[key].dtype) for key, value in state.ours.items()})
    return LoadReport(len(state.ours), sorted(state.rebuilt), len(state.frozen), sorted(state.unused))


_CLIP_TOWERS = ("image_encoder.", "text_encoder.", "logit_scale")


def _check_class_count(method: PromptMethod, state: AuthorsState, file: Path) -> None:
    count = len(method.classes)
    for authors, value in state.rebuilt.items():
        if value.dim() >= 1 and value.shape[0] != count:
            raise CheckpointError(
                f"{file} was trained on {value.shape[0]} classes ({authors} has shape {tuple(value.shape)}), but the "
                f"run's training classes are {count}: check --dataset and --protocol (base-to-novel trains on the "
                "base half)."
            )


def _check_frozen(method: PromptMethod, state: AuthorsState, file: Path) -> None:
    """The CLIP weights saved with the checkpoint must be the backbone's (to the checkpoint's precision)."""
    clip = method.backbone.model.state_dict()
    for authors, (target, value) in sorted(state.frozen.items()):
        ours = clip.get(target)
        if ours is None or tuple(ours.shape) != tuple(value.shape):
            shape = None if ours is None else tuple(ours.shape)
            raise CheckpointError(
                f"{file}: {authors} has shape {tuple(value.shape)}, the CLIP given has {shape} for {target}; pass "
                "--clip with the weights the authors trained with (their published runs use OpenAI's ViT-B/16)."
            )
        if not torch.equal(ours.detach().cpu().to(value.dtype), value):
            diff = (ours.detach().cpu().float() - value.float()).abs().max().item()
            raise CheckpointError(
                f"{file} was trained with other CLIP weights than the ones given: {authors} differs from {target} "
                f"by up to {diff:.3g}. Pass --clip with the weights the authors trained with (their published runs "
                "use OpenAI's ViT-B/16)."
            )


def load_dassl_checkpoint(method: PromptMethod, path: str | Path) -> dict[str, Any]:
    """Read the authors' checkpoint at ``path`` (a file or its output folder) into ``method``; returns its
    metadata (``file``, ``epoch``, ``val_result``)."""
    checkpoint = read_dassl_checkpoint(path)
    load_authors_state(method, checkpoint)
    return {"file": str(checkpoint.file), "epoch": checkpoint.epoch, "val_result": checkpoint.val_result}
