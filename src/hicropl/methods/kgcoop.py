"""KgCoOp: Knowledge-guided Context Optimization (Yao et al., CVPR 2023).

CoOp plus a regulariser that keeps the learned class text features close to hand-crafted CLIP ones:
``L = CE + lambda * mean_c D(w_c, w_c^clip)`` with both features L2-normalised and ``w^clip`` from
CoOp's per-dataset template ("a photo of a {}." by default). ``kg_distance`` chooses ``D``:

* ``"l2"`` (default): ``||w - w_clip||^2``, the paper's Eq. (6);
* ``"cosine"``: ``1 - cos(w, w_clip)``, which (as we recall it) is what the authors' code computes; on
  unit vectors it is exactly half the squared distance, so the two differ by a factor 2 in lambda.

Inference is CoOp's: only the learned prompts are used.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F

from hicropl.clip.features import template_features
from hicropl.data.registry import dataset_template
from hicropl.methods.base import ClassSet, register_method
from hicropl.methods.coop import CoOp, CoOpConfig
from hicropl.typed_config import require


@dataclass
class KgCoOpConfig(CoOpConfig):
    n_ctx: int = 4
    ctx_init: str = "a photo of a"
    kg_weight: float = 8.0  # lambda
    kg_distance: Literal["l2", "cosine"] = "l2"

    def __post_init__(self) -> None:
        super().__post_init__()
        require(self.kg_weight >= 0, "kg_weight", f"must be >= 0, got {self.kg_weight}")


@register_method
class KgCoOp(CoOp):
    name = "kgcoop"
    config_class = KgCoOpConfig
    config: KgCoOpConfig
    clip_text: torch.Tensor  # hand-crafted class text features [C, e], normalised

    def set_classes(self, classes: ClassSet) -> None:
        super().set_classes(classes)
        template = dataset_template(classes.dataset)
        weights = template_features(self.backbone, classes.names, (template,), self.runtime.cache_dir)
        self.register_buffer("clip_text", weights.float(), persistent=False)

    def knowledge_distance(self, text: torch.Tensor) -> torch.Tensor:
        """Mean over classes of D(learned, hand-crafted); ``text`` is normalised ``[C, e]``."""
        if self.config.kg_distance == "cosine":
            return 1.0 - F.cosine_similarity(text, self.clip_text, dim=-1, eps=1e-7).mean()
        return (text - self.clip_text).pow(2).sum(dim=-1).mean()

    def loss_terms(
        self, logits: torch.Tensor, labels: torch.Tensor, text: torch.Tensor
    ) -> tuple[torch.Tensor, dict[str, float]]:
        ce, terms = super().loss_terms(logits, labels, text)
        kg = self.knowledge_distance(text)
        terms["kg"] = kg.item()
        return ce + self.config.kg_weight * kg, terms
