"""HiCroPL: Hierarchical Cross-modal Prompt Learning (Zheng et al., ICCV 2025).

Variants:
* ``paper`` (default): the method as the paper specifies it (Sec. 3, App. A). Mapped prompts are
  computed differentiably every forward, so the mapper, LKPs and proxies learn; evaluation has no
  side effects.
* ``official``: the authors' code as it behaves (see ``shared/reference/official_code_behaviour.md``),
  fp32, checked against their golden traces; loads their Dassl checkpoints.

Logits (Eq. 4) fuse prompted and frozen features: ``f_I = norm(norm(img) + norm(img_frozen))``,
``f_T = norm(norm(txt) + W)``; the loss adds ``lambda * L_cons`` (Eq. 5-6).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import torch
import torch.nn.functional as F

from hicropl.clip.encoders import ImagePrompts, TextPrompts
from hicropl.clip.features import readable
from hicropl.clip.load import CLIPBackbone
from hicropl.errors import ConfigError
from hicropl.methods.base import ClassSet, MethodConfig, MethodOutput, MethodRuntime, PromptMethod, register_method
from hicropl.methods.frozen_text import FrozenText, build_frozen_text
from hicropl.methods.hicropl.learners import OfficialPromptLearner, PaperPromptLearner
from hicropl.typed_config import require

Flow = Literal["t2i_i2t", "i2t_t2i", "t2i", "i2t"]


@dataclass
class HiCroPLConfig(MethodConfig):
    variant: Literal["paper", "official"] = "paper"
    n_ctx: int = 16  # prompt length m
    depth: int = 12  # prompted layers D
    boundary: int = 6  # layer boundary k: t2i in layers 1..k, i2t in k+1..D
    ctx_init: str = ""  # words that initialise the first-layer text prompt
    flow: Flow = "t2i_i2t"  # Table 4
    mapper_scale: Literal["multi", "single"] = "multi"  # Table 6
    compression: Literal["lkp", "mean", "mlp"] = "lkp"  # Table 7
    frozen_text: Literal["llm_mean", "llm_random", "template", "templates"] = "llm_mean"  # Table 12
    consistency: Literal["cosine", "l1", "mse"] = "cosine"  # Table 13
    use_consistency: bool = True  # Table 11
    lambda_consistency: float = 12.0
    mapper_heads: int = 8
    description_fallback: bool = False  # template ensemble for classes without descriptions

    def __post_init__(self) -> None:
        require(self.n_ctx >= 1, "n_ctx", f"must be >= 1, got {self.n_ctx}")
        require(self.depth >= 1, "depth", f"must be >= 1, got {self.depth}")
        require(0 <= self.boundary <= self.depth, "boundary", f"must be in 0..depth={self.depth}, got {self.boundary}")
        require(self.lambda_consistency >= 0, "lambda_consistency", "must be >= 0")
        require(self.mapper_heads >= 1, "mapper_heads", "must be >= 1")
        if self.variant == "official":
            defaults = HiCroPLConfig()
            changed = [
                name
                for name in ("flow", "mapper_scale", "compression", "frozen_text", "consistency", "use_consistency")
                if getattr(self, name) != getattr(defaults, name)
            ]
            require(
                not changed,
                changed[0] if changed else "variant",
                "the official variant reproduces the authors' code, which has no such switch; use variant=paper",
            )
            require(self.mapper_heads == 8, "mapper_heads", "the official variant uses 8 heads")

    def variant_name(self) -> str:
        return self.variant


@register_method
class HiCroPL(PromptMethod[HiCroPLConfig]):
    name = "hicropl"
    config_class = HiCroPLConfig
    tokenized_prompts: torch.Tensor
    prompt_learner: OfficialPromptLearner | PaperPromptLearner
    uses_frozen_image_features = True

    def __init__(
        self, config: HiCroPLConfig, backbone: CLIPBackbone, classes: ClassSet, runtime: MethodRuntime | None = None
    ) -> None:
        super().__init__(config, backbone, classes, runtime)
        cfg = config
        max_depth = min(backbone.text_layers, backbone.vision_layers)
        if cfg.depth > max_depth:
            raise ConfigError(f"depth: {cfg.depth} exceeds the backbone's {max_depth} layers")
        self.caches_class_features = cfg.variant == "paper"  # the official forward mutates prompts
        first_text, self.prompt_prefix = self._first_text_prompt()
        sizes = dict(text_width=backbone.text_width, vision_width=backbone.vision_width)
        if cfg.variant == "official":
            self.prompt_learner = OfficialPromptLearner(first_text, depth=cfg.depth, boundary=cfg.boundary, **sizes)
        else:
            self.prompt_learner = PaperPromptLearner(
                first_text,
                depth=cfg.depth,
                boundary=cfg.boundary,
                flow=cfg.flow,
                multi_scale=cfg.mapper_scale == "multi",
                compression=cfg.compression,
                heads=cfg.mapper_heads,
                **sizes,
            )
        self.to(backbone.device)
        self.set_classes(classes)

    # --- construction ---------------------------------------------------------------------------
    def _first_text_prompt(self) -> tuple[torch.Tensor, str]:
        cfg, m = self.config, self.config.n_ctx
        width = self.backbone.text_width
        placeholder = " ".join(["X"] * m)
        init = cfg.ctx_init.replace("_", " ").strip()
        if not init:
            return torch.empty(m, width).normal_(std=0.02), placeholder
        tokens = self.backbone.tokenize([init])
        with torch.no_grad():
            embedded = self.backbone.text_encoder.token_embeddings(tokens)[0].float().cpu()
        n_words = self.backbone.tokenizer.count(init)
        if cfg.variant == "official":
            if m > 4:  # the authors' code ignores CTX_INIT for longer prompts
                return torch.empty(m, width).normal_(std=0.02), placeholder
            return embedded[1 : 1 + m].clone(), init
        if n_words >= m:
            # The first m tokens become learnable; the rest of the words stay as fixed text.
            return embedded[1 : 1 + m].clone(), init
        vectors = torch.empty(m, width).normal_(std=0.02)
        vectors[:n_words] = embedded[1 : 1 + n_words]
        return vectors, placeholder

    def set_classes(self, classes: ClassSet) -> None:
        super().set_classes(classes)
        prompts = [f"{self.prompt_prefix} {readable(name)}." for name in classes.names]
        self.register_buffer("tokenized_prompts", self.backbone.tokenize(prompts), persistent=False)
        cache = Path(self.runtime.cache_dir) if self.runtime.cache_dir else None
        self.frozen_text: FrozenText = build_frozen_text(
            self.backbone, classes, self.config.frozen_text, cache, self.config.description_fallback
        )
        self.runtime.records["frozen_text_source"] = self.frozen_text.source

    # --- forward --------------------------------------------------------------------------------
    def _encode_text(self, text_layers: list[torch.Tensor]) -> torch.Tensor:
        return self.backbone.encode_text(self.tokenized_prompts, TextPrompts(layers=text_layers))

    def _operation_order(self) -> contextlib.AbstractContextManager[None]:
        """The official variant promises the authors' numbers bit for bit, so it always runs under the
        backbone's reference order (see hicropl.clip.encoders); the paper variant runs under whatever
        order the backbone is set to."""
        if self.config.variant == "official":
            return self.backbone.using_reference_order()
        return contextlib.nullcontext()

    def class_features(self) -> torch.Tensor:
        with self._operation_order():
            text_layers, _ = self.prompt_learner()
            return self._encode_text(text_layers)

    def forward(
        self,
        images: torch.Tensor,
        labels: torch.Tensor | None = None,
        frozen_image: torch.Tensor | None = None,
        *,
        second_view: torch.Tensor | None = None,
    ) -> MethodOutput:
        with self._operation_order():
            return self._forward(images, labels, frozen_image)

    def _forward(
        self, images: torch.Tensor, labels: torch.Tensor | None, frozen_image: torch.Tensor | None
    ) -> MethodOutput:
        if frozen_image is None:
            with torch.no_grad():
                frozen_image = self.backbone.encode_image(images)
        frozen_image = F.normalize(frozen_image.float().to(images.device), dim=-1)
        text_layers, visual_layers = self.prompt_learner()
        text = self._class_cache if self._class_cache is not None else self._encode_text(text_layers)
        image = self.backbone.encode_image(images, ImagePrompts(layers=visual_layers))
        frozen_text = self.frozen_text.mean
        if labels is not None and self.training and self.config.frozen_text == "llm_random":
            frozen_text = self.frozen_text.sample()
        fused_image = F.normalize(F.normalize(image.float(), dim=-1) + frozen_image, dim=-1)
        fused_text = F.normalize(F.normalize(text.float(), dim=-1) + frozen_text, dim=-1)
        logits = self.logit_scale() * fused_image @ fused_text.t()
        if labels is None:
            return MethodOutput(logits=logits)
        ce = F.cross_entropy(logits, labels)
        terms = {"ce": ce.item()}
        loss = ce
        if self.config.use_consistency:
            consistency = self._consistency(fused_text, frozen_text) + self._consistency(fused_image, frozen_image)
            loss = loss + self.config.lambda_consistency * consistency
            terms["consistency"] = consistency.item()
        return MethodOutput(logits=logits, loss=loss, terms=terms)

    def _consistency(self, prompted: torch.Tensor, frozen: torch.Tensor) -> torch.Tensor:
        kind = self.config.consistency
        if kind == "cosine":
            return 1.0 - F.cosine_similarity(prompted, frozen, dim=-1, eps=1e-7).mean()
        if kind == "l1":
            return F.l1_loss(prompted, frozen)
        return F.mse_loss(prompted, frozen)

    # --- state ----------------------------------------------------------------------------------
    def _apply(self, fn, recurse=True):  # type: ignore[no-untyped-def]
        result = super()._apply(fn, recurse)
        learner = getattr(self, "prompt_learner", None)  # absent while __init__ moves the module
        if isinstance(learner, OfficialPromptLearner):
            learner.restore_aliasing()
        return result

    def load_state_dict(self, state_dict, strict=True, assign=False):  # type: ignore[no-untyped-def]
        result = super().load_state_dict(state_dict, strict=strict, assign=assign)
        if isinstance(self.prompt_learner, OfficialPromptLearner):
            self.prompt_learner.restore_aliasing()
        return result
