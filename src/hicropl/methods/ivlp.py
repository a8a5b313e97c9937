"""IVLP: Independent Vision-Language Prompting (the deep-prompting baseline of MaPLe, Khattak et al.,
CVPR 2023).

Deep prompts in both encoders, learned independently (no coupling):

* text: a context of ``n_ctx_text`` tokens in the first layer (word-initialised from ``ctx_init``) and
  a fresh learnable ``[n_ctx_text, d_text]`` prompt replacing those positions before each of the next
  ``depth_text - 1`` layers;
* vision: ``n_ctx_vision`` tokens appended after the patches in the first layer and replaced before each
  of the next ``depth_vision - 1`` layers, all from N(0, 0.02).

This is the authors' code as it behaves (muzairkhattak/multimodal-prompt-learning at ``69bce21``,
``trainers/independentVL.py`` and ``clip/model.py``; the same trainer is in muzairkhattak/PromptSRC;
checked against its golden traces in ``tests/fixtures/reference_traces/ivlp``): the first-layer text
context (independentVL.py:82-100), the deeper prompts ``VPT_shallow`` of each block (model.py:210-221)
and the first-layer vision prompt ``VPT`` (model.py:369-378). The text branch needs ``depth_text >= 1``
(independentVL.py:70 asserts it; vision-only prompting is their VPT trainer); ``n_ctx_vision = 0`` or
``depth_vision = 0`` switches the vision prompts off (deep language-only prompting, the MaPLe
repository's ``vit_b16_c2_ep5_batch4_4ctx_language_only.yaml``). Word initialisation follows MaPLe's
rule (:mod:`hicropl.methods.prompt_helpers`).
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
    check_word_init_length,
    deep_prompts,
    leading_tokens_context,
    random_context,
)
from hicropl.typed_config import require


@dataclass
class IVLPConfig(MethodConfig):
    """Defaults: the MaPLe repository's IVLP base-to-novel config
    ``configs/trainers/IVLP/vit_b16_c2_ep5_batch4_2+2ctx.yaml`` (2+2 tokens in all 12 layers). The
    PromptSRC repository's (``vit_b16_c2_ep20_batch4_4+4ctx.yaml``: 4+4 tokens, depth 9) ships as
    ``hicropl/configs/ivlp/base2novel_promptsrc.yaml``."""

    n_ctx_text: int = 2  # N_CTX_TEXT
    n_ctx_vision: int = 2  # N_CTX_VISION (0: no vision prompts)
    depth_text: int = 12  # PROMPT_DEPTH_TEXT: prompted text layers, counting the first
    depth_vision: int = 12  # PROMPT_DEPTH_VISION: prompted vision layers, counting the first (0: none)
    ctx_init: str = "a photo of a"  # CTX_INIT (text only; "" = N(0, 0.02) with "X" placeholders)

    def __post_init__(self) -> None:
        require(self.n_ctx_text >= 1, "n_ctx_text", f"must be >= 1, got {self.n_ctx_text}")
        require(self.n_ctx_vision >= 0, "n_ctx_vision", f"must be >= 0, got {self.n_ctx_vision}")
        require(
            self.depth_text >= 1,
            "depth_text",
            f"must be >= 1, got {self.depth_text}: the authors' IVLP asserts a language prompt depth of at least 1 "
            "and points to their VPT trainer for vision-only prompting (trainers/independentVL.py:70)",
        )
        require(self.depth_vision >= 0, "depth_vision", f"must be >= 0, got {self.depth_vision}")
        check_word_init_length(self.n_ctx_text, self.ctx_init, "n_ctx_text", "trainers/independentVL.py:82")

    @property
    def prompts_vision(self) -> bool:
        return self.n_ctx_vision > 0 and self.depth_vision > 0


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
        if cfg.ctx_init:
            init = leading_tokens_context(backbone, cfg.ctx_init, cfg.n_ctx_text)
        else:
            init = random_context(cfg.n_ctx_text, backbone.text_width)
        self.prompt_prefix = init.prefix
        self.text_prompts = nn.ParameterList([nn.Parameter(init.vectors)])
        self.text_prompts.extend(deep_prompts(cfg.depth_text - 1, cfg.n_ctx_text, backbone.text_width))
        vision_depth = cfg.depth_vision if cfg.prompts_vision else 0
        self.vision_prompts = deep_prompts(vision_depth, cfg.n_ctx_vision, backbone.vision_width)
        self.to(backbone.device)
        self.set_classes(classes)

    def prompts(self) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """Per-layer (text, vision) prompts as handed to the encoders."""
        return list(self.text_prompts), list(self.vision_prompts)

    def class_features(self) -> torch.Tensor:
        text_layers, _ = self.prompts()
        text = self.backbone.encode_text(self.tokenized_prompts, TextPrompts(layers=text_layers))
        return F.normalize(text.float(), dim=-1)

    def image_features(self, images: torch.Tensor) -> torch.Tensor:
        """Normalised prompted image features ``[B, e]`` in fp32."""
        _, vision_layers = self.prompts()
        image = self.backbone.encode_image(images, ImagePrompts(layers=vision_layers))
        return F.normalize(image.float(), dim=-1)

    def forward(
        self,
        images: torch.Tensor,
        labels: torch.Tensor | None = None,
        frozen_image: torch.Tensor | None = None,
        *,
        second_view: torch.Tensor | None = None,
    ) -> MethodOutput:
        image = self.image_features(images)
        logits = self.logit_scale() * image @ self.cached_class_features().t()
        if labels is None:
            return MethodOutput(logits=logits)
        ce = F.cross_entropy(logits, labels)
        return MethodOutput(logits=logits, loss=ce, terms={"ce": ce.item()})
