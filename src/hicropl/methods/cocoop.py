"""CoCoOp: Conditional Context Optimization (Zhou et al., "Conditional Prompt Learning for
Vision-Language Models", CVPR 2022).

A light meta-net ``Linear(e, e // 16) -> ReLU -> Linear(e // 16, d_text)`` maps each image's
L2-normalised CLIP feature (``e`` = CLIP's embedding width, 512 for ViT-B/16) to a bias ``pi(x)``
added to every context vector: the class prompts become ``[SOS] v_1+pi(x) ... v_m+pi(x) [CLASS] . [EOT]``
and so the class text features depend on the image. Text is therefore encoded per image: each image's
``C`` class prompts in one text-encoder call whose context ``[SOS] v_1+pi(x) ... v_m+pi(x)`` is shared by
all ``C`` sequences, so it is computed once per image and layer (the encoder's shared-prefix path) and
only the class-name positions run per class. Activations then grow with ``m + C * (name length)`` rows
per image instead of ``C * (m + name length)``. With the shared prefix off (benchmarks) or in the
authors' operation order, ``chunk`` images are encoded together as ``chunk * C`` whole sequences.

This is the authors' code as it behaves (KaiyangZhou/CoOp at ``ff61507``, ``trainers/cocoop.py``;
checked against its golden trace in ``tests/fixtures/reference_traces/cocoop``): word initialisation
follows CoOp's rule, the context length being the number of words of ``ctx_init`` (cocoop.py:75-83);
the meta-net is cocoop.py:95-99; the forward and loss cocoop.py:174-194.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from hicropl.clip.encoders import TextPrompts
from hicropl.clip.load import CLIPBackbone
from hicropl.methods.base import ClassSet, MethodConfig, MethodOutput, MethodRuntime, register_method
from hicropl.methods.prompt_helpers import ClassPromptTokens, clean_init, random_context, words_context
from hicropl.typed_config import require

RANDOM_N_CTX = 16  # TRAINER.COCOOP.N_CTX default, CoOp train.py:98


@dataclass
class CoCoOpConfig(MethodConfig):
    """Defaults: the published config ``configs/trainers/CoCoOp/vit_b16_c4_ep10_batch1_ctxv1.yaml``."""

    # Context length m of a random context (null: N_CTX's default 16, train.py:98). With ctx_init the length
    # is the number of its words (cocoop.py:78): leave it null or give that number.
    n_ctx: int | None = None
    ctx_init: str = "a photo of a"  # CTX_INIT of vit_b16_c4_ep10_batch1_ctxv1.yaml ("" = N(0, 0.02))
    # Images whose class prompts are encoded in one text-encoder call when the shared prefix is off (memory only)
    chunk: int = 8

    def __post_init__(self) -> None:
        require(self.n_ctx is None or self.n_ctx >= 1, "n_ctx", f"must be >= 1, got {self.n_ctx}")
        require(self.chunk >= 1, "chunk", f"must be >= 1, got {self.chunk}")
        if self.ctx_init:
            words = len(clean_init(self.ctx_init).split(" "))
            require(
                self.n_ctx in (None, words),
                "n_ctx",
                f"{self.n_ctx} with ctx_init {self.ctx_init!r}: the authors' code sets the context length to the "
                f"number of words of ctx_init ({words}) whatever N_CTX says (trainers/cocoop.py:78); leave n_ctx "
                f"unset or set it to {words}",
            )


class MetaNet(nn.Sequential):
    """CoCoOp's meta-net: ``Linear(e, e // 16) -> ReLU -> Linear(e // 16, d_text)``."""

    def __init__(self, feature_dim: int, text_width: int, reduction: int = 16) -> None:
        hidden = max(1, feature_dim // reduction)
        super().__init__()
        self.add_module("linear1", nn.Linear(feature_dim, hidden))
        self.add_module("relu", nn.ReLU())
        self.add_module("linear2", nn.Linear(hidden, text_width))


@register_method
class CoCoOp(ClassPromptTokens[CoCoOpConfig]):
    name = "cocoop"
    config_class = CoCoOpConfig
    caches_class_features = False  # the class text features depend on the image

    def __init__(
        self, config: CoCoOpConfig, backbone: CLIPBackbone, classes: ClassSet, runtime: MethodRuntime | None = None
    ) -> None:
        super().__init__(config, backbone, classes, runtime)
        if config.ctx_init:
            init = words_context(backbone, config.ctx_init)
        else:
            init = random_context(config.n_ctx or RANDOM_N_CTX, backbone.text_width)
        self.prompt_prefix = init.prefix
        self.ctx = nn.Parameter(init.vectors)
        self.meta_net = MetaNet(backbone.embed_dim, backbone.text_width)
        self.to(backbone.device)
        self.set_classes(classes)

    def conditioned_context(self, image_features: torch.Tensor) -> torch.Tensor:
        """``ctx + meta_net(image)`` per image: ``[B, m, d]`` (image features already normalised)."""
        bias = self.meta_net(image_features)
        return self.ctx.unsqueeze(0) + bias.unsqueeze(1)

    def text_features_for(self, image_features: torch.Tensor) -> torch.Tensor:
        """Normalised class text features per image ``[B, C, e]`` for normalised image features ``[B, e]``."""
        contexts = self.conditioned_context(image_features)  # the meta-net sees the whole batch (cocoop.py:148)
        chunk = self._chunk
        return torch.cat([self._encode(contexts[begin : begin + chunk]) for begin in range(0, len(contexts), chunk)])

    @property
    def _chunk(self) -> int:
        """Images whose prompts one text-encoder call encodes: one in the authors' operation order
        (cocoop.py:184), so that every matmul has their row count."""
        return 1 if self.backbone.reference_order else self.config.chunk

    def _encode(self, contexts: torch.Tensor) -> torch.Tensor:
        batch, m, width = contexts.shape
        tokens = self.tokenized_prompts
        count = tokens.shape[0]
        if self.backbone.text_encoder.share_prefix and not self.backbone.reference_order:
            # One image's context is one [m, d] first-layer prompt: the encoder shares it over the classes.
            per_image = [self.backbone.encode_text(tokens, TextPrompts(layers=[context])) for context in contexts]
            return F.normalize(torch.stack(per_image).float(), dim=-1)
        per_sequence = contexts.unsqueeze(1).expand(batch, count, m, width).reshape(batch * count, m, width)
        text = self.backbone.encode_text(tokens.repeat(batch, 1), TextPrompts(layers=[per_sequence]))
        return F.normalize(text.float(), dim=-1).view(batch, count, -1)

    def class_features(self) -> torch.Tensor:
        raise NotImplementedError(
            "CoCoOp's class text features depend on the image: use text_features_for(image_features)"
        )

    def forward(
        self,
        images: torch.Tensor,
        labels: torch.Tensor | None = None,
        frozen_image: torch.Tensor | None = None,
        *,
        second_view: torch.Tensor | None = None,
    ) -> MethodOutput:
        image = F.normalize(self.backbone.encode_image(images).float(), dim=-1)
        contexts = self.conditioned_context(image)  # the meta-net sees the whole batch (cocoop.py:148)
        scaled = self.logit_scale() * image
        rows = []
        chunk = self._chunk
        for begin in range(0, image.shape[0], chunk):
            text = self._encode(contexts[begin : begin + chunk])
            # One image at a time, scaled first: the authors' order (cocoop.py:184-189).
            rows += [scaled[begin + i] @ text[i].t() for i in range(text.shape[0])]
        logits = torch.stack(rows)
        if labels is None:
            return MethodOutput(logits=logits)
        ce = F.cross_entropy(logits, labels)
        return MethodOutput(logits=logits, loss=ce, terms={"ce": ce.item()})
