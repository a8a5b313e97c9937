"""MaPLe: Multi-modal Prompt Learning (Khattak et al., CVPR 2023).

Deep language prompts in the first ``depth`` text layers (the first-layer context word-initialised
from ``ctx_init``); the vision prompts of the same layers are not learned on their own but produced by
a coupling function from the language prompts: ``P_vision[i] = F_i(P_text[i])`` with one
``Linear(d_text, d_vision)`` per layer (``couplings[0]`` maps the first-layer context).

This is the authors' code as it behaves (muzairkhattak/multimodal-prompt-learning at ``69bce21``,
``trainers/maple.py`` and ``clip/model.py``; checked against its golden traces in
``tests/fixtures/reference_traces/maple``): the first-layer context and its coupling ``proj``
(maple.py:84-105), the deeper text prompts ``compound_prompts_text`` (maple.py:111-114) and their
couplings ``compound_prompt_projections``, deep copies of one freshly initialised Linear that start
identical (maple.py:116-117), all recomputed at every forward (maple.py:159-176, 189-199). Word
initialisation follows MaPLe's rule (:mod:`hicropl.methods.prompt_helpers`): only contexts of at most
4 vectors are word-initialised (maple.py:84); a longer one with ``ctx_init`` is refused, where the
authors silently ignore ``ctx_init``.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from hicropl.clip.encoders import ImagePrompts, TextPrompts
from hicropl.clip.load import CLIPBackbone
from hicropl.methods.base import ClassSet, MethodConfig, MethodOutput, MethodRuntime, register_method
from hicropl.methods.prompt_helpers import (
    ClassPromptTokens,
    check_depth,
    check_word_init_length,
    deep_prompts,
    leading_tokens_context,
    random_context,
)
from hicropl.typed_config import require


@dataclass
class MaPLeConfig(MethodConfig):
    """Defaults: MaPLe's ``train.py:105-109`` and the published base-to-novel config
    ``configs/trainers/MaPLe/vit_b16_c2_ep5_batch4_2ctx.yaml`` (they agree)."""

    n_ctx: int = 2  # N_CTX: prompt length in both branches
    depth: int = 9  # PROMPT_DEPTH J: prompted layers, counting the first (maple.py:80 asserts >= 1)
    ctx_init: str = "a photo of a"  # CTX_INIT ("" = N(0, 0.02) with "X" placeholders)

    # Where the authors' code applies MaPLe's word-initialisation rule (methods built on MaPLe name theirs).
    word_init_source: ClassVar[str] = "trainers/maple.py:84"

    def __post_init__(self) -> None:
        require(self.n_ctx >= 1, "n_ctx", f"must be >= 1, got {self.n_ctx}")
        require(self.depth >= 1, "depth", f"must be >= 1, got {self.depth}")
        check_word_init_length(self.n_ctx, self.ctx_init, "n_ctx", self.word_init_source)


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
        if cfg.ctx_init:
            init = leading_tokens_context(backbone, cfg.ctx_init, cfg.n_ctx)
        else:
            init = random_context(cfg.n_ctx, backbone.text_width)
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
        self,
        images: torch.Tensor,
        labels: torch.Tensor | None = None,
        frozen_image: torch.Tensor | None = None,
        *,
        second_view: torch.Tensor | None = None,
    ) -> MethodOutput:
        _, vision_layers = self.prompts()
        image = self.backbone.encode_image(images, ImagePrompts(layers=vision_layers))
        image = F.normalize(image.float(), dim=-1)
        logits = self.logit_scale() * image @ self.cached_class_features().t()
        if labels is None:
            return MethodOutput(logits=logits)
        ce = F.cross_entropy(logits, labels)
        return MethodOutput(logits=logits, loss=ce, terms={"ce": ce.item()})
