"""MaPLe: Multi-modal Prompt Learning (Khattak et al., CVPR 2023).

Deep language prompts in the first ``depth`` text layers (the first-layer context word-initialised
from ``ctx_init``); the vision prompts of the same layers are not learned on their own but produced by
a coupling function from the language prompts: ``P_vision[i] = F_i(P_text[i])`` with one
``Linear(d_text, d_vision)`` per layer (``couplings[0]`` maps the first-layer context). As in the
authors' code, the deeper couplings ``couplings[1:]`` start from one shared initialisation (clones).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from hicropl.clip.encoders import ImagePrompts, TextPrompts
from hicropl.clip.load import CLIPBackbone
from hicropl.methods.base import ClassSet, MethodConfig, MethodOutput, MethodRuntime, register_method
from hicropl.methods.prompt_helpers import ClassPromptTokens, check_depth, deep_prompts, init_context
from hicropl.typed_config import require


@dataclass
class MaPLeConfig(MethodConfig):
    n_ctx: int = 2  # prompt length in both branches
    depth: int = 9  # prompted layers J, counting the first
    ctx_init: str = "a photo of a"

    def __post_init__(self) -> None:
        require(self.n_ctx >= 1, "n_ctx", f"must be >= 1, got {self.n_ctx}")
        require(self.depth >= 1, "depth", f"must be >= 1, got {self.depth}")


@register_method
class MaPLe(ClassPromptTokens[MaPLeConfig]):
    name = "maple"
    config_class = MaPLeConfig

    def __init__(
        self, config: MaPLeConfig, backbone: CLIPBackbone, classes: ClassSet, runtime: MethodRuntime | None = None
    ) -> None:
        super().__init__(config, backbone, classes, runtime)
        cfg = config
        check_depth(cfg.depth, min(backbone.text_layers, backbone.vision_layers), "depth")
        init = init_context(backbone, cfg.n_ctx, cfg.ctx_init)
        self.prompt_prefix = init.prefix
        self.text_prompts = nn.ParameterList([nn.Parameter(init.vectors)])
        self.text_prompts.extend(deep_prompts(cfg.depth - 1, cfg.n_ctx, backbone.text_width))
        first = nn.Linear(backbone.text_width, backbone.vision_width)
        deep = nn.Linear(backbone.text_width, backbone.vision_width)
        self.couplings = nn.ModuleList([first] + [copy.deepcopy(deep) for _ in range(cfg.depth - 1)])
        self.to(backbone.device)
        self.set_classes(classes)

    def prompts(self) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """Per-layer (text, vision) prompts; the vision ones are the couplings of the text ones."""
        text = list(self.text_prompts)
        vision = [coupling(prompt) for coupling, prompt in zip(self.couplings, text, strict=True)]
        return text, vision

    def class_features(self) -> torch.Tensor:
        text_layers, _ = self.prompts()
        text = self.backbone.encode_text(self.tokenized_prompts, TextPrompts(layers=text_layers))
        return F.normalize(text.float(), dim=-1)

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
