"""IVLP: Independent Vision-Language Prompting (the deep-prompting baseline of MaPLe, Khattak et al.,
CVPR 2023).

Deep prompts in both encoders, learned independently (no coupling):

* text: a context of ``n_ctx_text`` tokens in the first layer (word-initialised from ``ctx_init``) and
  a fresh learnable ``[n_ctx_text, d_text]`` prompt replacing those positions before each of the next
  ``depth_text - 1`` layers;
* vision: ``n_ctx_vision`` tokens appended after the patches in the first layer and replaced before each
  of the next ``depth_vision - 1`` layers, all from N(0, 0.02).

A depth of 0 switches that branch's prompts off (deep vision-only or language-only prompting).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from hicropl.clip.encoders import ImagePrompts, TextPrompts
from hicropl.clip.load import CLIPBackbone
from hicropl.methods.base import ClassSet, MethodConfig, MethodOutput, MethodRuntime, register_method
from hicropl.methods.prompt_helpers import (
    ClassPromptTokens,
    check_depth,
    clean_init,
    deep_prompts,
    init_context,
)
from hicropl.typed_config import require


@dataclass
class IVLPConfig(MethodConfig):
    n_ctx_text: int = 2
    n_ctx_vision: int = 2
    depth_text: int = 9  # prompted text layers, counting the first
    depth_vision: int = 9  # prompted vision layers, counting the first
    ctx_init: str = "a photo of a"

    def __post_init__(self) -> None:
        require(self.n_ctx_text >= 1, "n_ctx_text", f"must be >= 1, got {self.n_ctx_text}")
        require(self.n_ctx_vision >= 1, "n_ctx_vision", f"must be >= 1, got {self.n_ctx_vision}")
        require(self.depth_text >= 0, "depth_text", f"must be >= 0, got {self.depth_text}")
        require(self.depth_vision >= 0, "depth_vision", f"must be >= 0, got {self.depth_vision}")
        require(self.depth_text + self.depth_vision > 0, "depth_text", "depth_text and depth_vision cannot both be 0")


@register_method
class IVLP(ClassPromptTokens[IVLPConfig]):
    name = "ivlp"
    config_class = IVLPConfig

    def __init__(
        self, config: IVLPConfig, backbone: CLIPBackbone, classes: ClassSet, runtime: MethodRuntime | None = None
    ) -> None:
        super().__init__(config, backbone, classes, runtime)
        cfg = config
        check_depth(cfg.depth_text, backbone.text_layers, "depth_text")
        check_depth(cfg.depth_vision, backbone.vision_layers, "depth_vision")
        self.text_prompts = nn.ParameterList()
        self.prompt_prefix = clean_init(cfg.ctx_init)
        if cfg.depth_text > 0:
            init = init_context(backbone, cfg.n_ctx_text, cfg.ctx_init)
            self.prompt_prefix = init.prefix
            self.text_prompts.append(nn.Parameter(init.vectors))
            self.text_prompts.extend(deep_prompts(cfg.depth_text - 1, cfg.n_ctx_text, backbone.text_width))
        self.vision_prompts = deep_prompts(cfg.depth_vision, cfg.n_ctx_vision, backbone.vision_width)
        self.to(backbone.device)
        self.set_classes(classes)

    def prompts(self) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """Per-layer (text, vision) prompts as handed to the encoders."""
        return list(self.text_prompts), list(self.vision_prompts)

    def class_features(self) -> torch.Tensor:
        text_layers, _ = self.prompts()
        prompts = TextPrompts(layers=text_layers) if text_layers else None
        return F.normalize(self.backbone.encode_text(self.tokenized_prompts, prompts).float(), dim=-1)

    def forward(
        self, images: torch.Tensor, labels: torch.Tensor | None = None, frozen_image: torch.Tensor | None = None
    ) -> MethodOutput:
        _, vision_layers = self.prompts()
        image = self.backbone.encode_image(images, ImagePrompts(layers=vision_layers))
        image = F.normalize(image.float(), dim=-1)
        logits = self.logit_scale() * image @ self.cached_class_features().t()
        if labels is None:
            return MethodOutput(logits=logits)
        ce = F.cross_entropy(logits, labels)
        return MethodOutput(logits=logits, loss=ce, terms={"ce": ce.item()})
