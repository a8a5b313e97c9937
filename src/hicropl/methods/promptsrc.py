"""PromptSRC: Self-Regulating Prompts (Khattak et al., ICCV 2023).

IVLP's deep prompts in both encoders (:mod:`hicropl.methods.ivlp`), trained with three
self-regulating terms that keep the prompted model close to the frozen CLIP, and the prompts of the
epochs combined by Gaussian weighted aggregation (GPA):

* ``L_scl_text = text_loss_weight * mean |f_T - W|``: the normalised prompted class text features
  against ``W``, the normalised mean over :func:`promptsrc_templates` of the frozen CLIP's
  UNNORMALISED template features (the mean is taken before normalising, unlike CLIP's ensembles);
* ``L_scl_image = image_loss_weight * mean |f_I - z_I|``: the normalised prompted image features
  against the frozen (prompt-free) ones;
* ``L_scl_logits = KL(softmax(zs) || softmax(logits)) / (B * C)``: summed over the batch and divided by
  ``B * C`` (not by ``B``), where ``zs = logit_scale * z_I @ W.T``;
* ``loss = ce + (L_scl_logits + L_scl_text + L_scl_image)``.

GPA is the engine's averaging of the trainable state (:mod:`hicropl.engine.state_averaging`): the
prompts at the end of epoch ``e`` weigh ``N(e; gpa_mean, gpa_std^2)``, normalised over the run's
epochs, and the weighted sum is the trained model. Evaluation uses the prompted logits only.

This is the authors' code as it behaves (muzairkhattak/PromptSRC at ``bb95c77``, ``trainers/promptsrc.py``;
checked against its golden traces in ``tests/fixtures/reference_traces/promptsrc``): the frozen text
(``VLPromptLearner.__init__``, promptsrc.py:114-128), the training forward (``CustomCLIP.forward``), the
loss (``PromptSRC.forward_backward``, promptsrc.py:297-316) and GPA (its weights in ``build_model`` and
``get_gauss``, the accumulation at promptsrc.py:320-335). Two differences, both below float32 round-off on the traces:
the authors' GPA averages their whole state dict (frozen towers, ``logit_scale`` and token buffers
included, which come back as themselves up to rounding since the weights sum to 1), this library
averages the trainable prompts only; and the frozen image features come from the shared frozen
backbone, where the authors build a second copy of CLIP's image tower.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import torch
import torch.nn.functional as F

from hicropl.clip.features import imagenet_templates, template_features
from hicropl.errors import ConfigError
from hicropl.methods.base import ClassSet, MethodOutput, register_method
from hicropl.methods.ivlp import IVLP, IVLPConfig
from hicropl.typed_config import require

PROMPTSRC_LEADING_TEMPLATE = "a photo of a {}."
PROMPTSRC_TEMPLATE_COUNT = 60


@lru_cache(maxsize=1)
def promptsrc_templates() -> tuple[str, ...]:
    """The 60 templates of PromptSRC's frozen text (``trainers/imagenet_templates.py``,
    ``IMAGENET_TEMPLATES``): the first 60 of CLIP's 80 ImageNet templates with "a photo of a {}." moved
    to the front. The order matters only to float round-off of the mean."""
    first = imagenet_templates()[:PROMPTSRC_TEMPLATE_COUNT]
    return (PROMPTSRC_LEADING_TEMPLATE, *(t for t in first if t != PROMPTSRC_LEADING_TEMPLATE))


def gaussian_epoch_weights(num_epochs: int, mean: float, std: float) -> list[float]:
    """``w_e = g(e) / sum_a g(a)`` for epochs ``e = 1..num_epochs``, ``g`` the N(mean, std^2) density.

    The authors' ``get_gauss`` and its normalisation over ``range(1, N + 1)`` in ``build_model``
    (muzairkhattak/PromptSRC ``trainers/promptsrc.py``), in float64.
    """
    if num_epochs < 1:
        raise ConfigError(f"Gaussian epoch weights need at least one epoch, got {num_epochs}")
    if not std > 0:
        raise ConfigError(f"Gaussian epoch weights need a positive standard deviation, got {std}")
    density = [
        (1 / (std * math.sqrt(2 * math.pi))) * math.exp(-0.5 * ((epoch - mean) / std) ** 2)
        for epoch in range(1, num_epochs + 1)
    ]
    total = sum(density)
    if total == 0.0:
        raise ConfigError(
            f"Gaussian epoch weights: N({mean}, {std}^2) has no mass on epochs 1..{num_epochs} in float64; "
            "move the mean into the training epochs or widen the standard deviation"
        )
    return [value / total for value in density]


@dataclass
class PromptSRCConfig(IVLPConfig):
    """Defaults: the published base-to-novel config
    ``configs/trainers/PromptSRC/vit_b16_c2_ep20_batch4_4+4ctx.yaml`` (it agrees with ``train.py``'s
    defaults, ``train.py``'s ``cfg.TRAINER.PROMPTSRC`` block)."""

    n_ctx_text: int = 4  # N_CTX_TEXT
    n_ctx_vision: int = 4  # N_CTX_VISION (0: no vision prompts)
    depth_text: int = 9  # PROMPT_DEPTH_TEXT: prompted text layers, counting the first
    depth_vision: int = 9  # PROMPT_DEPTH_VISION: prompted vision layers, counting the first (0: none)
    text_loss_weight: float = 25.0  # TEXT_LOSS_WEIGHT: L1 of the text features to the template mean
    image_loss_weight: float = 10.0  # IMAGE_LOSS_WEIGHT: L1 of the image features to the frozen ones
    gpa: bool = True  # Gaussian weighted prompt aggregation over the epochs (False: the last epoch's prompts)
    gpa_mean: float = 15.0  # GPA_MEAN: the epoch (1-based) of the Gaussian's peak
    gpa_std: float = 1.0  # GPA_STD: its standard deviation, in epochs

    def __post_init__(self) -> None:
        super().__post_init__()
        require(self.text_loss_weight >= 0, "text_loss_weight", f"must be >= 0, got {self.text_loss_weight}")
        require(self.image_loss_weight >= 0, "image_loss_weight", f"must be >= 0, got {self.image_loss_weight}")
        require(self.gpa_std > 0, "gpa_std", f"must be > 0, got {self.gpa_std}")


@register_method
class PromptSRC(IVLP):
    name = "promptsrc"
    config_class = PromptSRCConfig
    config: PromptSRCConfig
    _frozen_text: torch.Tensor | None = None

    def set_classes(self, classes: ClassSet) -> None:
        super().set_classes(classes)
        self._frozen_text = None

    def frozen_text(self) -> torch.Tensor:
        """W: the normalised mean of the raw frozen template features ``[C, e]``, built on first use (only
        training needs it, so evaluating on other class sets never encodes their 60 templates)."""
        if self._frozen_text is None:
            # In fp32 whatever the training autocast, as the authors' separate fp32 CLIP (promptsrc.py:114).
            with torch.autocast(self.device.type, enabled=False):
                text = template_features(
                    self.backbone,
                    self.classes.names,
                    promptsrc_templates(),
                    self.runtime.cache_dir,
                    normalize_members=False,
                )
            self._frozen_text = text.float().to(self.device)
            self.runtime.records["frozen_text"] = (
                f"templates:promptsrc{PROMPTSRC_TEMPLATE_COUNT} (mean of raw features)"
            )
        return self._frozen_text

    def state_averaging_weights(self, num_epochs: int) -> list[float] | None:
        if not self.config.gpa:
            return None
        return gaussian_epoch_weights(num_epochs, self.config.gpa_mean, self.config.gpa_std)

    def forward(
        self,
        images: torch.Tensor,
        labels: torch.Tensor | None = None,
        frozen_image: torch.Tensor | None = None,
        *,
        second_view: torch.Tensor | None = None,
    ) -> MethodOutput:
        image = self.image_features(images)
        text = self.cached_class_features()
        logits = self.logit_scale() * image @ text.t()
        if labels is None:
            return MethodOutput(logits=logits)
        frozen_text = self.frozen_text()
        with torch.no_grad():
            if frozen_image is None:
                frozen_image = self.backbone.encode_image(images)
            frozen = F.normalize(frozen_image.float().to(image.device), dim=-1)
            frozen_logits = self.logit_scale() * frozen @ frozen_text.t()
        cfg = self.config
        ce = F.cross_entropy(logits, labels)
        scl_text = F.l1_loss(text, frozen_text, reduction="mean") * cfg.text_loss_weight
        scl_image = F.l1_loss(image, frozen, reduction="mean") * cfg.image_loss_weight
        scl_logits = (
            F.kl_div(
                F.log_softmax(logits, dim=1), F.log_softmax(frozen_logits, dim=1), reduction="sum", log_target=True
            )
            / logits.numel()
        )
        loss = ce + (scl_logits + scl_text + scl_image)
        terms = {
            "ce": ce.item(),
            "scl_text": scl_text.item(),
            "scl_image": scl_image.item(),
            "scl_logits": scl_logits.item(),
        }
        return MethodOutput(logits=logits, loss=loss, terms=terms)
