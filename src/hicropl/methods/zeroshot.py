"""Zero-shot CLIP: hand-crafted prompts, nothing trained (the CLIP row of the paper's tables)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F

from hicropl.clip.features import imagenet_templates, template_features
from hicropl.clip.load import CLIPBackbone
from hicropl.data.registry import dataset_template
from hicropl.methods.base import ClassSet, MethodConfig, MethodOutput, MethodRuntime, PromptMethod, register_method
from hicropl.methods.frozen_text import build_frozen_text
from hicropl.typed_config import require


@dataclass
class ZeroShotConfig(MethodConfig):
    # "dataset": CoOp's per-dataset template; "ensemble": CLIP's 80 ImageNet templates;
    # "custom": the templates below; "descriptions": the mean embedding of each class's LLM
    # descriptions (HiCroPL's frozen text; the source used is recorded in the run).
    prompts: Literal["dataset", "ensemble", "custom", "descriptions"] = "dataset"
    templates: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.prompts == "custom":
            require(len(self.templates) > 0, "templates", "give at least one template when prompts='custom'")
        for template in self.templates:
            require("{}" in template, "templates", f"{template!r} has no '{{}}' for the class name")


@register_method
class ZeroShotCLIP(PromptMethod[ZeroShotConfig]):
    name = "zeroshot"
    config_class = ZeroShotConfig
    text_weights: torch.Tensor
    uses_frozen_image_features = True  # its image features are the frozen ones: served from the cache

    def set_classes(self, classes: ClassSet) -> None:
        super().set_classes(classes)
        self.register_buffer("text_weights", self._weights(classes), persistent=False)

    def __init__(
        self, config: ZeroShotConfig, backbone: CLIPBackbone, classes: ClassSet, runtime: MethodRuntime | None = None
    ) -> None:
        super().__init__(config, backbone, classes, runtime)
        self.set_classes(classes)

    def templates(self, classes: ClassSet) -> tuple[str, ...]:
        if self.config.prompts == "ensemble":
            return imagenet_templates()
        if self.config.prompts == "custom":
            return self.config.templates
        return (dataset_template(classes.dataset),)

    def _weights(self, classes: ClassSet) -> torch.Tensor:
        if self.config.prompts == "descriptions":
            frozen = build_frozen_text(self.backbone, classes, "llm_mean", self.runtime.cache_dir)
            self.runtime.records["text_source"] = frozen.source
            return frozen.mean
        self.runtime.records["text_source"] = f"templates:{self.config.prompts}"
        return template_features(self.backbone, classes.names, self.templates(classes), self.runtime.cache_dir)

    def class_features(self) -> torch.Tensor:
        return self.text_weights

    def forward(
        self,
        images: torch.Tensor,
        labels: torch.Tensor | None = None,
        frozen_image: torch.Tensor | None = None,
        *,
        second_view: torch.Tensor | None = None,
    ) -> MethodOutput:
        if frozen_image is None:
            image = self.backbone.encode_image(images, normalize=True)
        else:
            image = F.normalize(frozen_image.to(images.device).float(), dim=-1)
        logits = self.logit_scale() * image @ self.cached_class_features().t().to(image.dtype)
        loss = F.cross_entropy(logits, labels) if labels is not None else None
        return MethodOutput(logits=logits, loss=loss)
