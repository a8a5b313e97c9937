"""CoCoOp: Conditional Context Optimization (Zhou et al., "Conditional Prompt Learning for
Vision-Language Models", CVPR 2022).

A light meta-net ``Linear(e, e // 16) -> ReLU -> Linear(e // 16, d_text)`` maps each image's
L2-normalised CLIP feature (``e`` = CLIP's embedding width, 512 for ViT-B/16) to a bias ``pi(x)``
added to every context vector: the class prompts become ``[SOS] v_1+pi(x) ... v_m+pi(x) [CLASS] . [EOT]``
and so the class text features depend on the image. Text is therefore encoded per image; ``chunk``
images are encoded together (``chunk * C`` sequences) to bound memory.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from hicropl.clip.encoders import TextPrompts
from hicropl.clip.load import CLIPBackbone
from hicropl.methods.base import ClassSet, MethodConfig, MethodOutput, MethodRuntime, register_method
from hicropl.methods.prompt_helpers import ClassPromptTokens, init_context
from hicropl.typed_config import require


@dataclass
class CoCoOpConfig(MethodConfig):
    n_ctx: int = 4  # context length m
    ctx_init: str = "a photo of a"  # words that initialise the context ("" = N(0, 0.02))
    chunk: int = 8  # images whose class prompts are encoded in one text-encoder call

    def __post_init__(self) -> None:
        require(self.n_ctx >= 1, "n_ctx", f"must be >= 1, got {self.n_ctx}")
        require(self.chunk >= 1, "chunk", f"must be >= 1, got {self.chunk}")


class MetaNet(nn.Sequential):
    """CoCoOp's meta-net: ``Linear(e, e // 16) -> ReLU -> Linear(e // 16, d_text)``."""

    def __init__(self, feature_dim: int, text_width: int, reduction: int = 16) -> None:
        hidden = max(1, feature_dim // reduction)
        super().__init__()
        self.add_module("linear1", nn.Linear(feature_dim, hidden))
        self.add_module("relu", nn.ReLU())
        self.add_module("linear2", nn.Linear(hidden, text_width))


@register_method
class CoCoOp(ClassPromptTokens[CoCoOpConfig]):
    name = "cocoop"
    config_class = CoCoOpConfig
    caches_class_features = False  # the class text features depend on the image

    def __init__(
        self, config: CoCoOpConfig, backbone: CLIPBackbone, classes: ClassSet, runtime: MethodRuntime | None = None
    ) -> None:
        super().__init__(config, backbone, classes, runtime)
        init = init_context(backbone, config.n_ctx, config.ctx_init)
        self.prompt_prefix = init.prefix
        self.ctx = nn.Parameter(init.vectors)
        self.meta_net = MetaNet(backbone.embed_dim, backbone.text_width)
        self.to(backbone.device)
        self.set_classes(classes)

    def conditioned_context(self, image_features: torch.Tensor) -> torch.Tensor:
        """``ctx + meta_net(image)`` per image: ``[B, m, d]`` (image features already normalised)."""
        bias = self.meta_net(image_features)
        return self.ctx.unsqueeze(0) + bias.unsqueeze(1)

    def text_features_for(self, image_features: torch.Tensor) -> torch.Tensor:
        """Normalised class text features per image ``[B, C, e]`` for normalised image features ``[B, e]``."""
        parts = []
        for begin in range(0, image_features.shape[0], self.config.chunk):
            contexts = self.conditioned_context(image_features[begin : begin + self.config.chunk])
            parts.append(self._encode(contexts))
        return torch.cat(parts)

    def _encode(self, contexts: torch.Tensor) -> torch.Tensor:
        batch, m, width = contexts.shape
        tokens = self.tokenized_prompts
        count = tokens.shape[0]
        per_sequence = contexts.unsqueeze(1).expand(batch, count, m, width).reshape(batch * count, m, width)
        text = self.backbone.encode_text(tokens.repeat(batch, 1), TextPrompts(layers=[per_sequence]))
        return F.normalize(text.float(), dim=-1).view(batch, count, -1)

    def class_features(self) -> torch.Tensor:
        raise NotImplementedError(
            "CoCoOp's class text features depend on the image: use text_features_for(image_features)"
        )

    def forward(
        self, images: torch.Tensor, labels: torch.Tensor | None = None, frozen_image: torch.Tensor | None = None
    ) -> MethodOutput:
        image = F.normalize(self.backbone.encode_image(images).float(), dim=-1)
        parts = []
        for begin in range(0, image.shape[0], self.config.chunk):
            chunk = image[begin : begin + self.config.chunk]
            text = self._encode(self.conditioned_context(chunk))
            parts.append(torch.einsum("be,bce->bc", chunk, text))
        logits = self.logit_scale() * torch.cat(parts)
        if labels is None:
            return MethodOutput(logits=logits)
        ce = F.cross_entropy(logits, labels)
        return MethodOutput(logits=logits, loss=ce, terms={"ce": ce.item()})
