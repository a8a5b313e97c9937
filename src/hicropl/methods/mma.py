"""MMA: Multi-Modal Adapter (Yang et al., CVPR 2024).

Small bottleneck adapters run as side branches in parallel to whole transformer blocks of both frozen
towers, coupled by one projection per layer that the two modalities share; there is no prompt. This
is the authors' code as it behaves (ZjjConan/Multi-Modal-Adapter at ``547ee34``,
``trainers/mmadapter.py``, ``clip/model.py`` and ``clip/gsl.py``; checked against its golden traces in
``tests/fixtures/reference_traces/mma``):

* adapter layer ``l`` = 0 is each tower's input (text: the token embeddings of ``"<ctx_init> <class>."``
  before the positional embedding; image: the ``ln_pre`` output), ``l`` = 1..L is transformer block
  ``l``; adapters sit in every layer ``adapter_start..adapter_end`` (inclusive) of both towers;
* ``A_l(h) = up_l(ReLU(shared_l(ReLU(down_l(h)))))`` per modality, ``shared_l`` = Linear(r, r) + ReLU
  used by both towers at layer ``l``; layer 0: ``x + s * A_0(x)``, block ``l``:
  ``block(x) + s * A_l(ln_1(x))`` with the block's own frozen ``ln_1``
  (:class:`~hicropl.clip.encoders.SideBranches`);
* every Linear from ``kaiming_normal_(mode="fan_out", nonlinearity="relu")``, biases 0;
* the authors' gradient scaling (``clip/gsl.py``): the branch of block ``l >= 1`` is
  ``GSL(s * A_l(ln_1(GSL(x, s))), 1/s)``, identity forward, so the gradients of the adapters of layers
  ``>= 1`` are the true ones divided by ``s`` (1000x at the published ``s = 0.001``) while the residual
  stream gets its true gradient; layer-0 adapters are not scaled;
* loss: cross-entropy of CLIP's logits (frozen logit scale), nothing else.

Evaluation: class text features are computed once per evaluation (:meth:`PromptMethod.evaluating`),
from the current adapters. The authors' ``CustomCLIP`` instead caches them at its first eval-mode
forward and never refreshes the cache, so an evaluation after further training in the same process
reuses the text features of the first one. Their published pipeline never hits that (no evaluation
before or during training; ``base2new_test.sh`` loads the trained weights into a fresh process), and
their golden trace records both: ``eval_after`` (stale cache) and ``eval_after_fresh`` (cache reset,
what a fresh process computes). This library computes ``eval_after_fresh``, and the replay compares
against it.

Fast paths (all exact, checked against the authors' order on their traces): the adapters are
position-wise, so the image tower still skips the queries nobody reads, the text tower truncates after
the last EOT and encodes the fixed text every class prompt starts with ("a photo of a") once per layer,
and activation checkpointing recomputes each branch with its block.

The authors' ``_build_adapter`` builds no ``down``/``up`` when ``adapter_dim`` equals a tower's width
(their forward then fails); here the adapters always have both, so any ``adapter_dim`` works.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import torch
import torch.nn.functional as F
from torch import nn

from hicropl.clip.encoders import SideBranches
from hicropl.clip.load import CLIPBackbone
from hicropl.methods.base import ClassSet, MethodConfig, MethodOutput, MethodRuntime, register_method
from hicropl.methods.gradient_scale import scale_gradient
from hicropl.methods.prompt_helpers import ClassPromptTokens, check_depth
from hicropl.typed_config import require

ModuleT = TypeVar("ModuleT", bound=nn.Module)


@dataclass
class MMAConfig(MethodConfig):
    """Defaults: the authors' base-to-novel config ``configs/trainers/MultiModalAdapter/vit_b16_ep5.yaml``
    (TRAINER.MMADAPTER; their ``train.py`` defaults differ: start 4, scale 0.1, ctx_init "")."""

    adapter_start: int = 5  # ADAPTER_START (vit_b16_ep5.yaml:34): first adapted layer, 0 = tower input
    adapter_end: int = 12  # ADAPTER_END (vit_b16_ep5.yaml:35): last adapted layer (inclusive)
    adapter_dim: int = 32  # ADAPTER_DIM (vit_b16_ep5.yaml:36): bottleneck width r
    adapter_scale: float = 0.001  # ADAPTER_SCALE (vit_b16_ep5.yaml:37): s
    ctx_init: str = "a photo of a"  # TEXT_CTX_INIT (vit_b16_ep5.yaml:33): fixed text before the class name

    def __post_init__(self) -> None:
        require(
            self.adapter_start >= 0, "adapter_start", f"must be >= 0 (0 = the tower input), got {self.adapter_start}"
        )
        require(
            self.adapter_end >= self.adapter_start,
            "adapter_end",
            f"must be >= adapter_start ({self.adapter_start}), got {self.adapter_end}",
        )
        require(self.adapter_dim >= 1, "adapter_dim", f"must be >= 1, got {self.adapter_dim}")
        require(
            self.adapter_scale > 0,
            "adapter_scale",
            f"must be > 0 (it scales the branches and divides the adapters' gradients), got {self.adapter_scale}",
        )

    @property
    def adapted_layers(self) -> range:
        return range(self.adapter_start, self.adapter_end + 1)


def _kaiming_init(modules: ModuleT) -> ModuleT:
    """N(0, 2 / out_features) weights and zero biases for every Linear, once all of them are built
    (the authors' ``_build_adapter``: the RNG draws the default inits first)."""
    for module in modules.modules():
        if isinstance(module, nn.Linear):
            nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
            nn.init.zeros_(module.bias)
    return modules


class BottleneckAdapter(nn.Module):
    """``down`` (width -> r, then ReLU) and ``up`` (r -> width); the shared projection goes between."""

    def __init__(self, width: int, dim: int) -> None:
        super().__init__()
        self.down = nn.Linear(width, dim)
        self.up = nn.Linear(dim, width)

    def forward(self, h: torch.Tensor, shared: nn.Module) -> torch.Tensor:
        h = h.to(self.down.weight.dtype)
        return self.up(F.relu(shared(F.relu(self.down(h)))))


def _adapters(width: int, cfg: MMAConfig) -> nn.ModuleDict:
    return _kaiming_init(
        nn.ModuleDict({str(layer): BottleneckAdapter(width, cfg.adapter_dim) for layer in cfg.adapted_layers})
    )


@register_method
class MMA(ClassPromptTokens[MMAConfig]):
    name = "mma"
    config_class = MMAConfig

    def __init__(
        self, config: MMAConfig, backbone: CLIPBackbone, classes: ClassSet, runtime: MethodRuntime | None = None
    ) -> None:
        super().__init__(config, backbone, classes, runtime)
        cfg = config
        check_depth(cfg.adapter_end, min(backbone.text_layers, backbone.vision_layers), "adapter_end")
        # The authors' creation order (the torch RNG draws): text, vision, then the shared projections.
        self.text_adapters = _adapters(backbone.text_width, cfg)
        self.vision_adapters = _adapters(backbone.vision_width, cfg)
        self.shared_projections = _kaiming_init(
            nn.ModuleDict({str(layer): nn.Linear(cfg.adapter_dim, cfg.adapter_dim) for layer in cfg.adapted_layers})
        )
        self.prompt_prefix = cfg.ctx_init
        self.to(backbone.device)
        self.set_classes(classes)

    def branches(self, adapters: nn.ModuleDict, depth: int) -> SideBranches:
        """One tower's side branches: ``layers[l]`` is adapter ``l`` (``None`` where there is none)."""
        cfg = self.config
        layers: list[Callable[[torch.Tensor], torch.Tensor] | None] = [None] * (depth + 1)
        for layer in cfg.adapted_layers:
            layers[layer] = self._branch(adapters[str(layer)], self.shared_projections[str(layer)], layer)
        return SideBranches(layers=layers, scale=cfg.adapter_scale)

    def _branch(self, adapter: nn.Module, shared: nn.Module, layer: int) -> Callable[[torch.Tensor], torch.Tensor]:
        if layer == 0:  # the input adapters have no gradient scaling (mmadapter.py, AdapterLearner.forward)
            return lambda h: adapter(h, shared)
        s = self.config.adapter_scale
        return lambda h: scale_gradient(adapter(scale_gradient(h, s), shared), 1.0 / s)

    def class_features(self) -> torch.Tensor:
        branches = self.branches(self.text_adapters, self.backbone.text_layers)
        text = self.backbone.encode_text(self.tokenized_prompts, branches=branches)
        return F.normalize(text.float(), dim=-1)

    def forward(
        self,
        images: torch.Tensor,
        labels: torch.Tensor | None = None,
        frozen_image: torch.Tensor | None = None,
        *,
        second_view: torch.Tensor | None = None,
    ) -> MethodOutput:
        branches = self.branches(self.vision_adapters, self.backbone.vision_layers)
        image = F.normalize(self.backbone.encode_image(images, branches=branches).float(), dim=-1)
        logits = self.logit_scale() * image @ self.cached_class_features().t()
        if labels is None:
            return MethodOutput(logits=logits)
        ce = F.cross_entropy(logits, labels)
        return MethodOutput(logits=logits, loss=ce, terms={"ce": ce.item()})
