"""Build a frozen CLIP from open_clip and wrap it in :class:`CLIPBackbone`, the library's public face."""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import open_clip
import torch
from open_clip.constants import OPENAI_DATASET_MEAN, OPENAI_DATASET_STD
from torch import nn

from hicropl.clip.encoders import ImagePrompts, PromptedImageEncoder, PromptedTextEncoder, SideBranches, TextPrompts
from hicropl.clip.shipped import shipped_clip, verified_file
from hicropl.clip.tokens import Tokenizer
from hicropl.clip.weights_file import config_mismatches, file_sha256, infer_clip_config, read_clip_state_dict
from hicropl.errors import CheckpointError


@dataclass(frozen=True)
class Preprocessing:
    """What a model expects of its input images."""

    image_size: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]


class CLIPBackbone(nn.Module):
    """A frozen open_clip CLIP plus prompt-able encoders that re-run its modules.

    ``encode_image`` / ``encode_text`` equal open_clip's when no prompts are given. The wrapped
    model (``.model``), its tokenizer (``.tokenizer``) and preprocessing constants
    (``.preprocessing``) are exposed for methods and data pipelines.

    ``reference_order`` (default off) runs both encoders in the authors' operation order: no
    reordering fast path, so any method agrees element by element with its authors' code (the golden
    trace replays run under it). The fast paths are exact in exact arithmetic; they only round
    differently.
    """

    def __init__(
        self,
        model: open_clip.CLIP,
        *,
        model_name: str,
        source: str,
        checksum: str,
        preprocessing: Preprocessing,
        config: Mapping[str, Any],
    ) -> None:
        super().__init__()
        if not isinstance(model, open_clip.CLIP):
            raise CheckpointError(
                f"{model_name} is a {type(model).__name__}; only open_clip.CLIP ViT models are supported."
            )
        model.requires_grad_(False)
        model.eval()
        self.model = model
        self.model_name = model_name
        self.source = source
        self.checksum = checksum
        self.preprocessing = preprocessing
        self.config = dict(config)
        self.tokenizer = Tokenizer(context_length=model.context_length)
        self.image_encoder = PromptedImageEncoder(model.visual)
        self.text_encoder = PromptedTextEncoder(model)

    @property
    def reference_order(self) -> bool:
        """Whether the encoders run in the authors' operation order (no reordering fast path)."""
        return bool(self.image_encoder.reference_order)

    @reference_order.setter
    def reference_order(self, enabled: bool) -> None:
        self.image_encoder.reference_order = bool(enabled)
        self.text_encoder.reference_order = bool(enabled)

    @contextlib.contextmanager
    def using_reference_order(self) -> Iterator[None]:
        """Run the enclosed calls in the authors' operation order, then restore the previous setting."""
        before = self.reference_order
        self.reference_order = True
        try:
            yield
        finally:
            self.reference_order = before

    def train(self, mode: bool = True) -> CLIPBackbone:
        # The backbone is frozen: it always stays in eval mode (no dropout, no patch dropout).
        return super().train(False)

    @property
    def embed_dim(self) -> int:
        return int(self.config["embed_dim"])

    @property
    def text_width(self) -> int:
        return self.text_encoder.width

    @property
    def vision_width(self) -> int:
        return self.image_encoder.width

    @property
    def text_layers(self) -> int:
        return self.text_encoder.layers

    @property
    def vision_layers(self) -> int:
        return self.image_encoder.layers

    @property
    def logit_scale(self) -> torch.Tensor:
        """CLIP's frozen temperature, already exponentiated."""
        return self.model.logit_scale.detach().exp()

    @property
    def device(self) -> torch.device:
        return self.model.logit_scale.device

    def encode_image(
        self,
        images: torch.Tensor,
        prompts: ImagePrompts | None = None,
        normalize: bool = False,
        branches: SideBranches | None = None,
    ) -> torch.Tensor:
        return self.image_encoder(images, prompts, normalize=normalize, branches=branches)

    def encode_text(
        self,
        texts: Sequence[str] | torch.Tensor,
        prompts: TextPrompts | None = None,
        normalize: bool = False,
        branches: SideBranches | None = None,
    ) -> torch.Tensor:
        tokens = self.tokenize(texts) if not isinstance(texts, torch.Tensor) else texts.to(self.device)
        return self.text_encoder(tokens, prompts, normalize=normalize, branches=branches)

    def tokenize(self, texts: Sequence[str]) -> torch.Tensor:
        return self.tokenizer(list(texts)).to(self.device)

    def summary(self) -> str:
        cfg = self.config
        n_params = sum(p.numel() for p in self.model.parameters())
        return (
            f"{self.model_name} from {self.source}\n"
            f"  vision: {cfg['vision_cfg']['layers']} layers, width {self.vision_width}, "
            f"patch {cfg['vision_cfg']['patch_size']}, image {self.preprocessing.image_size}px\n"
            f"  text:   {cfg['text_cfg']['layers']} layers, width {self.text_width}, "
            f"context {cfg['text_cfg']['context_length']}\n"
            f"  embed dim {self.embed_dim}, {n_params / 1e6:.2f}M frozen parameters, logit scale "
            f"{self.logit_scale.item():.2f}\n  sha256 {self.checksum}"
        )


def _named_config(name: str) -> dict[str, Any]:
    cfg = open_clip.get_model_config(name)
    if cfg is None:
        known = open_clip.list_models()
        import difflib

        close = difflib.get_close_matches(name, known, n=3)
        hint = f" Did you mean: {', '.join(close)}?" if close else ""
        raise CheckpointError(f"Unknown open_clip model name {name!r}.{hint}")
    return copy.deepcopy(cfg)


def build_clip_from_config(config: Mapping[str, Any], quick_gelu: bool = True) -> open_clip.CLIP:
    """Instantiate an open_clip ``CLIP`` from a config dict (random weights, fp32)."""
    cfg = copy.deepcopy(dict(config))
    cfg.pop("quick_gelu", None)
    cfg.pop("custom_text", None)
    return open_clip.CLIP(**cfg, quick_gelu=quick_gelu)


def _backbone_from_state(
    state: dict[str, torch.Tensor],
    *,
    model_name: str | None,
    model_config: Mapping[str, Any] | None,
    quick_gelu: bool,
    source: str,
    checksum: str,
) -> CLIPBackbone:
    inferred = infer_clip_config(state)
    if model_config is not None:
        config = copy.deepcopy(dict(model_config))
        label = "the given model_config"
    elif model_name is not None:
        config = _named_config(model_name)
        label = f"model {model_name!r}"
    else:
        config = inferred
        label = "inferred"
    problems = config_mismatches(config, inferred)
    if problems:
        raise CheckpointError(
            f"The checkpoint {source} does not match {label}: "
            + "; ".join(problems)
            + ". Omit the model name to infer the architecture from the checkpoint, or pass matching weights."
        )
    model = build_clip_from_config(config, quick_gelu=quick_gelu)
    expected = set(model.state_dict())
    unexpected = sorted(set(state) - expected)
    missing = sorted(expected - set(state))
    if unexpected or missing:
        raise CheckpointError(
            f"The checkpoint {source} does not fit an open_clip CLIP of {label}: "
            f"missing {missing[:5]}, unexpected {unexpected[:5]}."
        )
    model.load_state_dict({k: v.float() for k, v in state.items()})
    image_size = int(config["vision_cfg"]["image_size"])
    return CLIPBackbone(
        model,
        model_name=model_name or "inferred",
        source=source,
        checksum=checksum,
        preprocessing=Preprocessing(image_size, OPENAI_DATASET_MEAN, OPENAI_DATASET_STD),
        config=config,
    )


def _load_pretrained_tag(tag: str, quick_gelu: bool | None) -> CLIPBackbone:
    name, _, pretrained = tag.partition(":")
    _named_config(name)
    force_quick = bool(quick_gelu) if quick_gelu is not None else pretrained == "openai"
    try:
        model, _, _preprocess = open_clip.create_model_and_transforms(
            name, pretrained=pretrained, force_quick_gelu=force_quick
        )
    except RuntimeError as exc:
        raise CheckpointError(
            f"Could not get the open_clip pretrained weights {tag!r}: {exc}. Pretrained tags are downloaded "
            "from the internet (Hugging Face / OpenAI); on an offline machine download the checkpoint "
            "elsewhere and pass its file path instead."
        ) from exc
    except Exception as exc:  # network stacks raise many types (OSError, HTTPError, LocalEntryNotFoundError)
        raise CheckpointError(
            f"Could not download the open_clip pretrained weights {tag!r} ({type(exc).__name__}). "
            "This needs internet access; offline, download the checkpoint file elsewhere and pass "
            "its path instead."
        ) from exc
    model = model.float()
    cfg = _named_config(name)
    visual = model.visual
    mean = tuple(getattr(visual, "image_mean", None) or OPENAI_DATASET_MEAN)
    std = tuple(getattr(visual, "image_std", None) or OPENAI_DATASET_STD)
    size = visual.image_size[0] if isinstance(visual.image_size, tuple) else visual.image_size
    return CLIPBackbone(
        model,
        model_name=name,
        source=f"open_clip:{tag}",
        checksum=f"open_clip:{tag}",
        preprocessing=Preprocessing(int(size), mean, std),  # type: ignore[arg-type]
        config=cfg,
    )


def load_clip(
    source: str | Path,
    model_name: str | None = None,
    *,
    model_config: Mapping[str, Any] | None = None,
    quick_gelu: bool | None = None,
    device: str | torch.device = "cpu",
) -> CLIPBackbone:
    """Load a frozen CLIP backbone.

    Args:
        source: a checkpoint file (OpenAI TorchScript ``.pt``, a state dict ``.pt``/``.bin``/
            ``.pth``, or ``.safetensors``), an open_clip pretrained tag ``"ViT-B-16:openai"``, or the
            name of weights shipped with hicropl (``"toyworld"``: the tiny ToyWorld CLIP).
        model_name: an open_clip architecture name. Without it, the architecture is inferred from
            the checkpoint's tensor shapes. With it, a checkpoint that disagrees is refused.
        model_config: an explicit open_clip config dict (``embed_dim``, ``vision_cfg``, ``text_cfg``),
            for architectures with non-default head counts.
        quick_gelu: activation; defaults to QuickGELU for checkpoint files (OpenAI-trained weights)
            and for the ``openai`` pretrained tag.
    """
    text = str(source)
    named = shipped_clip(text)
    if named is not None:
        text = str(verified_file(named))
    path = Path(text).expanduser()
    looks_like_tag = ":" in text and not path.exists() and not text.startswith(("/", ".", "~"))
    if looks_like_tag:
        backbone = _load_pretrained_tag(text, quick_gelu)
    else:
        state = read_clip_state_dict(path)
        backbone = _backbone_from_state(
            state,
            model_name=model_name,
            model_config=model_config,
            quick_gelu=True if quick_gelu is None else quick_gelu,
            source=str(path),
            checksum=file_sha256(path),
        )
    return backbone.to(device)
