"""CoOp: Context Optimization (Zhou et al., "Learning to Prompt for Vision-Language Models", IJCV 2022).

The class prompt is ``[SOS] [V]_1 ... [V]_m [CLASS] . [EOT]``: ``m`` learnable context vectors in the
text encoder's first layer, everything else frozen. Options from the paper:

* ``ctx_init``: initialise the context from words (e.g. "a photo of a") instead of N(0, 0.02). Unlike
  the authors' code, which replaces ``n_ctx`` by the number of init words, ``n_ctx`` is kept and the
  library-wide rule of :mod:`hicropl.methods.prompt_helpers` applies (CoOp's own behaviour is
  ``n_ctx`` = the init's token count, e.g. ``n_ctx: 4`` for "a photo of a");
* ``csc``: class-specific context (one ``[m, d]`` context per class) instead of a unified one;
* ``class_token_position``: the class token at the ``end`` (default), in the ``middle`` of the
  context (after ``m // 2`` vectors), or in ``front`` of it.

Logits are ``logit_scale * cos(image, text)`` with CLIP's frozen temperature; the loss is cross-entropy.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from hicropl.clip.encoders import TextPrompts
from hicropl.clip.features import readable
from hicropl.clip.load import CLIPBackbone
from hicropl.errors import ConfigError
from hicropl.methods.base import ClassSet, MethodConfig, MethodOutput, MethodRuntime, register_method
from hicropl.methods.prompt_helpers import ClassPromptTokens, init_context
from hicropl.typed_config import require


@dataclass
class CoOpConfig(MethodConfig):
    n_ctx: int = 16  # context length m
    ctx_init: str = ""  # words that initialise the context ("" = N(0, 0.02))
    csc: bool = False  # class-specific context
    class_token_position: Literal["end", "middle", "front"] = "end"

    def __post_init__(self) -> None:
        require(self.n_ctx >= 1, "n_ctx", f"must be >= 1, got {self.n_ctx}")


def class_token_layout(tokens: torch.Tensor, name_lengths: list[int], n_ctx: int, position: str) -> torch.Tensor:
    """Gather index ``[C, L]`` that arranges ``cat([embeddings(tokens) [C, L, d], ctx [C, m, d]], 1)``.

    ``tokens`` are the placeholder prompts ``[SOS] X*m name . [EOT] pad``; index ``L + j`` selects
    context vector ``j``. The arranged sequence has the same length, so the EOT position is unchanged.
    """
    count, length = tokens.shape
    rows = []
    context = list(range(length, length + n_ctx))
    half = n_ctx // 2
    for n in name_lengths:
        name = list(range(1 + n_ctx, 1 + n_ctx + n))
        rest = list(range(1 + n_ctx + n, length))
        if position == "end":
            order = [0, *context, *name, *rest]
        elif position == "front":
            order = [0, *name, *context, *rest]
        else:
            order = [0, *context[:half], *name, *context[half:], *rest]
        rows.append(order)
    return torch.tensor(rows, dtype=torch.long, device=tokens.device).view(count, length)


@register_method
class CoOp(ClassPromptTokens[CoOpConfig]):
    name = "coop"
    config_class = CoOpConfig

    def __init__(
        self, config: CoOpConfig, backbone: CLIPBackbone, classes: ClassSet, runtime: MethodRuntime | None = None
    ) -> None:
        super().__init__(config, backbone, classes, runtime)
        cfg = config
        init = init_context(backbone, cfg.n_ctx, cfg.ctx_init, per_class=len(classes) if cfg.csc else None)
        if cfg.class_token_position != "end" and init.fixed_words:
            raise ConfigError(
                f"ctx_init: {cfg.ctx_init!r} is longer than n_ctx={cfg.n_ctx} tokens; with class_token_position="
                f"{cfg.class_token_position!r} the whole context must be learnable: raise n_ctx or shorten ctx_init"
            )
        self.prompt_prefix = init.prefix
        self.ctx = nn.Parameter(init.vectors)
        self._csc_classes = classes.names if cfg.csc else None
        self.to(backbone.device)
        self.set_classes(classes)

    # --- classes --------------------------------------------------------------------------------
    def set_classes(self, classes: ClassSet) -> None:
        if self._csc_classes is not None and tuple(classes.names) != tuple(self._csc_classes):
            raise ConfigError(
                f"csc: class-specific contexts were learned for {len(self._csc_classes)} given classes and "
                "cannot classify other classes (base -> novel, another dataset); use csc=false for transfer"
            )
        super().set_classes(classes)
        tokens = self.tokenized_prompts
        if self.config.class_token_position != "end":
            lengths = self._name_lengths(tokens, classes)
            index = class_token_layout(tokens, lengths, self.config.n_ctx, self.config.class_token_position)
            self.register_buffer("layout_index", index, persistent=False)

    def _name_lengths(self, tokens: torch.Tensor, classes: ClassSet) -> list[int]:
        """BPE length of each class name, checked against its place in the tokenized prompt."""
        start = 1 + self.config.n_ctx
        lengths = []
        for row, name in zip(tokens.tolist(), classes.names, strict=True):
            ids = self.backbone.tokenizer.encode(readable(name))
            if row[start : start + len(ids)] != ids:
                raise ValueError(
                    f"class name {name!r} tokenizes differently inside the prompt; rename it (e.g. drop trailing "
                    "punctuation) or use class_token_position='end'"
                )
            lengths.append(len(ids))
        return lengths

    # --- prompts --------------------------------------------------------------------------------
    def first_layer_input(self, ctx: torch.Tensor | None = None) -> torch.Tensor:
        """The text encoder's first-layer input ``[C, L, d]`` (token embeddings with the context in
        place, before the positional embedding), for any class-token position."""
        ctx = self.ctx if ctx is None else ctx
        tokens = self.tokenized_prompts
        embedded = self.backbone.text_encoder.token_embeddings(tokens).to(ctx.dtype)
        count, _, width = embedded.shape
        ctx = ctx.expand(count, -1, -1) if ctx.dim() == 2 else ctx
        index = getattr(self, "layout_index", None)
        if index is None:
            index = class_token_layout(tokens, [0] * count, ctx.shape[1], "end")
        combined = torch.cat([embedded, ctx], dim=1)
        return combined.gather(1, index.unsqueeze(-1).expand(-1, -1, width))

    def encode_prompts(self, ctx: torch.Tensor) -> torch.Tensor:
        """Text features ``[C, e]`` (not normalised) of the class prompts with context ``ctx``."""
        if self.config.class_token_position == "end":
            prompts = TextPrompts(layers=[ctx])
        else:
            prompts = TextPrompts(embeddings=self.first_layer_input(ctx))
        return self.backbone.encode_text(self.tokenized_prompts, prompts)

    def class_features(self) -> torch.Tensor:
        return F.normalize(self.encode_prompts(self.ctx).float(), dim=-1)

    # --- forward --------------------------------------------------------------------------------
    def forward(
        self, images: torch.Tensor, labels: torch.Tensor | None = None, frozen_image: torch.Tensor | None = None
    ) -> MethodOutput:
        image = F.normalize(self.backbone.encode_image(images).float(), dim=-1)
        text = self.cached_class_features()
        logits = self.logit_scale() * image @ text.t()
        if labels is None:
            return MethodOutput(logits=logits)
        loss, terms = self.loss_terms(logits, labels, text)
        return MethodOutput(logits=logits, loss=loss, terms=terms)

    def loss_terms(
        self, logits: torch.Tensor, labels: torch.Tensor, text: torch.Tensor
    ) -> tuple[torch.Tensor, dict[str, float]]:
        """Cross-entropy; subclasses (KgCoOp) add regularisers on the class text features."""
        ce = F.cross_entropy(logits, labels)
        return ce, {"ce": ce.item()}
