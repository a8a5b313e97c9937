"""CoPrompt: Consistency-guided Prompt learning (Roy & Etemad, ICLR 2024).

MaPLe's coupled prompts (:mod:`hicropl.methods.maple`, reused unchanged) plus two feature adapters and a
consistency loss towards the frozen CLIP:

* adapters: ``f = r * adapter(f) + (1 - r) * f`` on the raw image (``r = 0.1``) and class text
  (``r = 0.2``) features, each adapter ``Linear(e, e/4, no bias) -> ReLU -> Linear(e/4, e, no bias) ->
  ReLU``; they are part of the inference path too;
* consistency: ``L = CE + W * [D(f_T, t) + D(f_I, i2)]`` with ``D = 1 - mean cos`` (``distill: cosine``)
  or the mean squared error (any other DISTILL value in the authors' code: ``distill: mse``). The text
  target ``t`` is, for every class at once, its frozen CLIP embedding of LLM description number ``j``,
  one index ``j`` drawn per training step and shared by all classes; the image target ``i2`` is the
  frozen CLIP feature of a *second*, independently augmented view of each training image, which the
  engine serves (``takes_second_view``; the authors' K_TRANSFORMS 2 with RandAugment, so both views are
  RandAugment draws: ``train_augmentation = "randaugment"``).

This is the authors' code as it behaves (ShuvenduRoy/CoPrompt at ``a2a6c12``, ``trainers/coprompt.py``;
checked against its golden traces in ``tests/fixtures/reference_traces/coprompt``): the prompt learner
is MaPLe's (coprompt.py:140-180, 242-264), the adapters coprompt.py:267-279 and 299-302, the forward
and loss coprompt.py:304-368, the description embeddings ``gpt_clip_classifier`` coprompt.py:375-401
(each description encoded by the frozen CLIP and L2-normalised; every class needs the same number of
descriptions, as the authors' ``torch.stack`` does). The description index is drawn through
:class:`~hicropl.methods.random_draws.RandomDraws` (name ``description_index``), where the authors call
Python's ``random.randint`` (coprompt.py:338). The template features the authors compute and never
use (``prompt_learner.text_features``) are not built.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal

import torch
import torch.nn.functional as F
from torch import nn

from hicropl.clip.encoders import ImagePrompts, TextPrompts
from hicropl.clip.load import CLIPBackbone
from hicropl.errors import DataError
from hicropl.methods.base import ClassSet, MethodOutput, MethodRuntime, register_method
from hicropl.methods.frozen_text import build_frozen_text
from hicropl.methods.maple import MaPLe, MaPLeConfig
from hicropl.typed_config import require

ADAPTER_REDUCTION = 4  # Adapter(512, 4) (coprompt.py:299-300)
DESCRIPTION_DRAW = "description_index"  # the name of the per-step draw in RandomDraws and in the traces


@dataclass
class CoPromptConfig(MaPLeConfig):
    """Defaults: the published base-to-novel config ``configs/trainers/coprompt.yaml`` (N_CTX 2, CTX_INIT
    "a photo of a", PROMPT_DEPTH 9, W 1.0, DISTILL cosine). The authors' ``trainers/constants.py``
    overrides depth, length and W per dataset (the shipped ``hicropl/configs/coprompt/base2novel_*.yaml``)."""

    word_init_source: ClassVar[str] = "trainers/coprompt.py:140"

    n_ctx: int = 2  # TRAINER.CoPrompt.N_CTX (coprompt.yaml)
    depth: int = 9  # TRAINER.CoPrompt.PROMPT_DEPTH (coprompt.yaml)
    ctx_init: str = "a photo of a"  # TRAINER.CoPrompt.CTX_INIT (coprompt.yaml)
    distill_weight: float = 1.0  # TRAINER.W: coprompt.yaml 1.0 (train.py:94 defaults to 8.0)
    distill: Literal["cosine", "mse"] = "cosine"  # TRAINER.DISTILL (coprompt.yaml; coprompt.py:352-364)
    image_adapter_ratio: float = 0.1  # image_adapter_m (coprompt.py:301, hard-coded)
    text_adapter_ratio: float = 0.2  # text_adapter_m (coprompt.py:302, hard-coded)

    def __post_init__(self) -> None:
        super().__post_init__()
        require(self.distill_weight >= 0, "distill_weight", f"must be >= 0, got {self.distill_weight}")
        require(self.distill in ("cosine", "mse"), "distill", f"must be 'cosine' or 'mse', got {self.distill!r}")
        for name in ("image_adapter_ratio", "text_adapter_ratio"):
            value = getattr(self, name)
            require(0.0 <= value <= 1.0, name, f"must be in [0, 1], got {value}")


class FeatureAdapter(nn.Module):
    """``ReLU(W2 ReLU(W1 x))``, no biases, bottleneck ``width // reduction`` (the output is non-negative)."""

    def __init__(self, width: int, reduction: int = ADAPTER_REDUCTION) -> None:
        super().__init__()
        self.fc = nn.Sequential(
            nn.Linear(width, width // reduction, bias=False),
            nn.ReLU(),
            nn.Linear(width // reduction, width, bias=False),
            nn.ReLU(),
        )

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.fc(features)
        return out


def mix(adapter: FeatureAdapter, features: torch.Tensor, ratio: float) -> torch.Tensor:
    """``ratio * adapter(f) + (1 - ratio) * f``, then L2-normalised (coprompt.py:321-332)."""
    mixed = ratio * adapter(features) + (1 - ratio) * features
    return mixed / mixed.norm(dim=-1, keepdim=True)


@register_method
class CoPrompt(MaPLe):
    name = "coprompt"
    config_class = CoPromptConfig
    config: CoPromptConfig
    takes_second_view = True
    train_augmentation = "randaugment"

    def __init__(
        self, config: CoPromptConfig, backbone: CLIPBackbone, classes: ClassSet, runtime: MethodRuntime | None = None
    ) -> None:
        super().__init__(config, backbone, classes, runtime)
        self.adapter_image = FeatureAdapter(backbone.embed_dim)
        self.adapter_text = FeatureAdapter(backbone.embed_dim)
        self.to(backbone.device)

    def set_classes(self, classes: ClassSet) -> None:
        super().set_classes(classes)
        # Built at the first training step: evaluations on datasets without descriptions never need them.
        self._descriptions: torch.Tensor | None = None

    def description_embeddings(self) -> torch.Tensor:
        """Frozen CLIP embeddings of the classes' LLM descriptions ``[n_desc, C, e]``, each L2-normalised."""
        if self._descriptions is None:
            frozen = build_frozen_text(self.backbone, self.classes, "llm_random", self.runtime.cache_dir)
            if frozen.sentences is None:
                raise DataError(
                    f"CoPrompt needs LLM descriptions of every class of {self.classes.dataset!r} ({frozen.source} "
                    "has none): give them as ClassSet.descriptions or a description file."
                )
            counts = sorted({len(rows) for rows in frozen.sentences})
            if len(counts) != 1:
                raise DataError(
                    f"CoPrompt draws one description index for all classes, so every class needs the same number "
                    f"of descriptions; {self.classes.dataset!r} has {counts} (the authors' torch.stack fails too)."
                )
            self._descriptions = torch.stack(frozen.sentences, dim=1).float()
            self.runtime.records["frozen_text"] = frozen.source
        return self._descriptions

    def class_features(self) -> torch.Tensor:
        text_layers, _ = self.prompts()
        text = self.backbone.encode_text(self.tokenized_prompts, TextPrompts(layers=text_layers)).float()
        return mix(self.adapter_text, text, self.config.text_adapter_ratio)

    def forward(
        self,
        images: torch.Tensor,
        labels: torch.Tensor | None = None,
        frozen_image: torch.Tensor | None = None,
        *,
        second_view: torch.Tensor | None = None,
    ) -> MethodOutput:
        _, vision_layers = self.prompts()
        image = self.backbone.encode_image(images, ImagePrompts(layers=vision_layers)).float()
        image = mix(self.adapter_image, image, self.config.image_adapter_ratio)
        text = self.cached_class_features()
        logits = self.logit_scale() * image @ text.t()
        if labels is None:
            return MethodOutput(logits=logits)
        if second_view is None:
            raise ValueError(
                "CoPrompt's training loss needs second_view, a second augmented view of the images (its frozen "
                "image target); the engine serves it because CoPrompt declares takes_second_view"
            )
        ce = F.cross_entropy(logits, labels)
        distill_text, distill_image = self.consistency(text, image, second_view)
        loss = ce + self.config.distill_weight * (distill_text + distill_image)
        terms = {"ce": ce.item(), "distill_text": distill_text.item(), "distill_image": distill_image.item()}
        return MethodOutput(logits=logits, loss=loss, terms=terms)

    def consistency(
        self, text: torch.Tensor, image: torch.Tensor, second_view: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Distances of the adapted text and image features to the frozen targets (coprompt.py:336-364)."""
        descriptions = self.description_embeddings()
        target_text = descriptions[self.random_draws.randint(DESCRIPTION_DRAW, descriptions.shape[0])]
        target_text = target_text / target_text.norm(dim=-1, keepdim=True)
        with torch.no_grad():
            target_image = self.backbone.encode_image(second_view).float()
        target_image = target_image / target_image.norm(dim=-1, keepdim=True)
        if self.config.distill == "cosine":
            text_distance = 1.0 - F.cosine_similarity(text, target_text, dim=1, eps=1e-7).mean()
            image_distance = 1.0 - F.cosine_similarity(image, target_image, dim=1, eps=1e-7).mean()
            return text_distance, image_distance
        return F.mse_loss(text, target_text), F.mse_loss(image, target_image)
