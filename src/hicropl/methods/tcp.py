"""TCP: Textual-based Class-aware Prompt tuning (Yao, Zhang and Xu, CVPR 2024).

KgCoOp's shared context and knowledge term, plus class-aware tokens: a small meta-net maps each
class's frozen hand-crafted text feature ``w_c`` to 4 token embeddings that replace positions 1..4 of
that class's prompt before one deeper text block. Because the tokens come from the class's text
feature, novel classes get their own tokens without training.

This is the authors' code as it behaves (htyao89/Textual-based_Class-aware_prompt_tuning at
``bd97bec``, ``trainers/tcp.py`` and ``trainers/clip_text/model.py``; checked against its golden
traces in ``tests/fixtures/reference_traces/tcp``):

* class prompts are tokenized from TCP's own per-dataset table (:data:`TCP_CLASS_PROMPT_TEMPLATES`,
  ``CUSTOM_TEMPLATES``, tcp.py:60-76: "X X X X {}." style, "a photo of a {}." for the ImageNet
  family), not from the context's placeholder text; the learnable context ``[m, d]`` replaces their
  tokens 1..m in the first layer (tcp.py:177-186, 193-212);
* ``w_c``: CLIP's normalised features of a second per-dataset table of hand-crafted prompts
  (:data:`TCP_FROZEN_TEMPLATES`, ``CUSTOM_TEMPLATES_ori``, tcp.py:42-58, 159-166; FGVCAircraft and Food101 differ
  from KgCoOp's), encoded by the frozen CLIP with prompts off;
* meta-net ``Linear(e, e // 4) -> QuickGELU -> Linear(e // 4, 4 d)`` on ``w_c`` (tcp.py:168-173), its
  output read as 4 tokens per class (tcp.py:193-195), every forward, training and evaluation;
* the tokens replace positions 1..4 before text block ``inject_layer`` (0-based; hard-coded 8 in
  model.py:268, with a hard-coded weight 1.0 that makes ``TRAINER.COOP.W`` a no-op, model.py:269-278);
  with ``m = 4`` the context then reaches the output only through the blocks before that layer;
* loss ``CE + 8 * (1 - mean_c cos(t_c, w_c))`` cosine eps 1e-7 (tcp.py:243, 254-257; the 8 is hard-coded);
* with ``ctx_init`` the authors use the words "a photo of a" whatever CTX_INIT says (tcp.py:125-129).

The published runs are fp16 with Adam at eps 1e-3 (the authors' README edits Dassl's optimizer for
it; hicropl/configs/tcp). The per-class tokens enter the text encoder as a per-sequence deep prompt
(:class:`~hicropl.clip.encoders.TextPrompts`), so the shared-prefix encoding covers the blocks before
``inject_layer``.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from hicropl.clip.encoders import TextPrompts
from hicropl.clip.features import readable, template_features
from hicropl.clip.load import CLIPBackbone
from hicropl.data.registry import canonical_dataset_name
from hicropl.errors import ConfigError
from hicropl.methods.base import ClassSet, MethodConfig, MethodOutput, MethodRuntime, PromptMethod, register_method
from hicropl.methods.prompt_helpers import leading_tokens_context, random_context
from hicropl.typed_config import require

# The class prompts' text per dataset (CUSTOM_TEMPLATES, tcp.py:60-76); the context replaces its first tokens.
TCP_CLASS_PROMPT_TEMPLATES: dict[str, str] = {
    "OxfordPets": "X X X X {}, a type of pet.",
    "OxfordFlowers": "X X X X {}, a type of flower.",
    "FGVCAircraft": "X X X X {}, a type of aircraft.",
    "DescribableTextures": "X X X X {} texture.",
    "EuroSAT": "X X X X {}.",
    "StanfordCars": "X X X X {}, a type of car",
    "Food101": "X X X X {}, a type of food.",
    "SUN397": "X X X X {}.",
    "Caltech101": "X X X X {}.",
    "UCF101": "a photo of a person doing {}.",
    "ImageNet": "a photo of a {}.",
    "ImageNetSketch": "a photo of a {}.",
    "ImageNetV2": "a photo of a {}.",
    "ImageNetA": "a photo of a {}.",
    "ImageNetR": "a photo of a {}.",
}
# The hand-crafted prompts of the frozen features w_c (CUSTOM_TEMPLATES_ori, tcp.py:42-58).
TCP_FROZEN_TEMPLATES: dict[str, str] = {
    "OxfordPets": "a photo of a {}, a type of pet.",
    "OxfordFlowers": "a photo of a {}, a type of flower.",
    "FGVCAircraft": "a photo of an aircraft {}.",
    "DescribableTextures": "a photo of a {}, a type of texture.",
    "EuroSAT": "a centered satellite photo of {}.",
    "StanfordCars": "a photo of a {}.",
    "Food101": "a photo of a {}, a type of food.",
    "SUN397": "a photo of a {}.",
    "Caltech101": "a photo of a {}.",
    "UCF101": "a photo of a person doing {}.",
    "ImageNet": "a photo of a {}.",
    "ImageNetSketch": "a photo of a {}.",
    "ImageNetV2": "a photo of a {}.",
    "ImageNetA": "a photo of a {}.",
    "ImageNetR": "a photo of a {}.",
}
# Datasets the authors never ran (their code raises a KeyError there) get the most common entries.
OTHER_DATASETS_CLASS_PROMPT = "X X X X {}."
OTHER_DATASETS_FROZEN_TEMPLATE = "a photo of a {}."
AUTHORS_CTX_INIT = "a photo of a"  # tcp.py:127, whatever CTX_INIT says
CLASS_AWARE_TOKENS = 4  # tcp.py:172 (4 * ctx_dim outputs) and model.py:273-274 (positions 1..4)
META_NET_REDUCTION = 4  # tcp.py:170: hidden width e // 4


def class_prompt_template(dataset: str | None) -> str:
    return TCP_CLASS_PROMPT_TEMPLATES.get(canonical_dataset_name(dataset) or "", OTHER_DATASETS_CLASS_PROMPT)


def frozen_template(dataset: str | None) -> str:
    return TCP_FROZEN_TEMPLATES.get(canonical_dataset_name(dataset) or "", OTHER_DATASETS_FROZEN_TEMPLATE)


@dataclass
class TCPConfig(MethodConfig):
    """Defaults: the published base-to-novel run (``configs/trainers/TCP/vit_b16_ep100_ctxv1.yaml``,
    ``scripts/base2new_train.sh``) and the constants the authors hard-code."""

    n_ctx: int = 4  # N_CTX 4 (scripts/base2new_train.sh NCTX=4); 4 with ctx_init (tcp.py:129)
    ctx_init: str = ""  # CTX_INIT False (vit_b16_ep100_ctxv1.yaml): N(0, 0.02); or "a photo of a" (tcp.py:127)
    inject_layer: int = 8  # 0-based text block before which the class-aware tokens enter (model.py:268 layers=[8])
    kg_weight: float = 8.0  # weight of 1 - cos(t_c, w_c), hard-coded in tcp.py:257 (TRAINER.COOP.W is unused)
    class_prompt: str = ""  # "" = TCP's class-prompt text for the dataset (TCP_CLASS_PROMPT_TEMPLATES); else with {}
    kg_template: str = ""  # "" = TCP's hand-crafted prompt for the dataset (TCP_FROZEN_TEMPLATES); else with {}

    def __post_init__(self) -> None:
        require(self.n_ctx >= 1, "n_ctx", f"must be >= 1, got {self.n_ctx}")
        require(
            self.inject_layer >= 1,
            "inject_layer",
            f"must be >= 1, got {self.inject_layer}: before block 0 the authors' code would overwrite the context "
            "after the positional embedding, which is not a prompt this library's encoders take",
        )
        require(self.kg_weight >= 0, "kg_weight", f"must be >= 0, got {self.kg_weight}")
        require(
            self.ctx_init in ("", AUTHORS_CTX_INIT),
            "ctx_init",
            f"{self.ctx_init!r}: the authors' TCP initialises from the words {AUTHORS_CTX_INIT!r} whenever CTX_INIT "
            f"is set, whatever its value (trainers/tcp.py:125-129); use ctx_init: {AUTHORS_CTX_INIT!r} or '' (random)",
        )
        if self.ctx_init:
            words = len(AUTHORS_CTX_INIT.split(" "))
            require(
                self.n_ctx == words,
                "n_ctx",
                f"{self.n_ctx} with ctx_init {self.ctx_init!r}: the authors' code uses its {words} words as the "
                f"context whatever N_CTX says (trainers/tcp.py:129); set n_ctx: {words}",
            )
        for field, value in (("class_prompt", self.class_prompt), ("kg_template", self.kg_template)):
            require(not value or value.count("{}") == 1, field, f"{value!r} needs exactly one {{}} for the class name")


class ClassTokenNet(nn.Sequential):
    """TCP's meta-net: ``Linear(e, e // 4) -> QuickGELU -> Linear(e // 4, tokens * d)``."""

    def __init__(self, feature_dim: int, text_width: int, tokens: int = CLASS_AWARE_TOKENS) -> None:
        super().__init__(
            OrderedDict(
                [
                    ("linear1", nn.Linear(feature_dim, feature_dim // META_NET_REDUCTION)),
                    ("relu", QuickGELU()),  # the authors' name for it (tcp.py:171)
                    ("linear2", nn.Linear(feature_dim // META_NET_REDUCTION, tokens * text_width)),
                ]
            )
        )
        self.tokens, self.text_width = tokens, text_width

    def forward(self, features: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        """``[C, e]`` class features -> ``[C, tokens, d]`` token embeddings."""
        return super().forward(features).view(features.shape[0], self.tokens, self.text_width)


class QuickGELU(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.sigmoid(1.702 * x)


@register_method
class TCP(PromptMethod[TCPConfig]):
    name = "tcp"
    config_class = TCPConfig
    tokenized_prompts: torch.Tensor  # [C, context_length] class prompts
    clip_text: torch.Tensor  # w_c: frozen hand-crafted class text features [C, e], normalised

    def __init__(
        self, config: TCPConfig, backbone: CLIPBackbone, classes: ClassSet, runtime: MethodRuntime | None = None
    ) -> None:
        super().__init__(config, backbone, classes, runtime)
        if config.inject_layer >= backbone.text_layers:
            raise ConfigError(
                f"inject_layer: {config.inject_layer} is not a block of the {backbone.text_layers}-block text encoder"
            )
        # Drawn in the authors' order: the context (tcp.py:147), then the meta-net (tcp.py:169-173).
        if config.ctx_init:
            vectors = leading_tokens_context(backbone, AUTHORS_CTX_INIT, config.n_ctx).vectors
        else:
            vectors = random_context(config.n_ctx, backbone.text_width).vectors
        self.ctx = nn.Parameter(vectors)
        self.meta_net = ClassTokenNet(backbone.embed_dim, backbone.text_width)
        self.to(backbone.device)
        self.set_classes(classes)

    def set_classes(self, classes: ClassSet) -> None:
        super().set_classes(classes)
        prompt = self.config.class_prompt or class_prompt_template(classes.dataset)
        self._check_prompt_room(prompt)
        texts = [prompt.format(readable(name)) for name in classes.names]
        self.register_buffer("tokenized_prompts", self.backbone.tokenize(texts), persistent=False)
        template = self.config.kg_template or frozen_template(classes.dataset)
        weights = template_features(self.backbone, classes.names, (template,), self.runtime.cache_dir)
        self.register_buffer("clip_text", weights.float(), persistent=False)
        self.runtime.records["class_prompt"] = prompt
        self.runtime.records["kg_template"] = template

    def _check_prompt_room(self, prompt: str) -> None:
        """The context and the class-aware tokens overwrite the tokens before the class name; the authors'
        code would silently overwrite the name itself if there were fewer."""
        before = self.backbone.tokenizer.count(prompt.split("{}")[0])
        needed = max(self.config.n_ctx, CLASS_AWARE_TOKENS)
        if before < needed:
            raise ConfigError(
                f"class_prompt: {prompt!r} has {before} tokens before the class name, but the context and the "
                f"class-aware tokens replace tokens 1..{needed}; give it at least {needed} (e.g. 'X X X X {{}}.')"
            )

    def class_tokens(self) -> torch.Tensor:
        """The class-aware tokens ``[C, 4, d]`` from the frozen class features."""
        return self.meta_net(self.clip_text.to(self.ctx.dtype))

    def text_prompts(self) -> TextPrompts:
        """The context in the first layer, the class-aware tokens (one per class) before ``inject_layer``."""
        layers: list[torch.Tensor | None] = [self.ctx]
        layers += [None] * (self.config.inject_layer - 1) + [self.class_tokens()]
        return TextPrompts(layers=layers)

    def class_features(self) -> torch.Tensor:
        text = self.backbone.encode_text(self.tokenized_prompts, self.text_prompts())
        return F.normalize(text.float(), dim=-1)

    def forward(
        self,
        images: torch.Tensor,
        labels: torch.Tensor | None = None,
        frozen_image: torch.Tensor | None = None,
        *,
        second_view: torch.Tensor | None = None,
    ) -> MethodOutput:
        image = F.normalize(self.backbone.encode_image(images).float(), dim=-1)
        text = self.cached_class_features()
        logits = self.logit_scale() * image @ text.t()
        if labels is None:
            return MethodOutput(logits=logits)
        ce = F.cross_entropy(logits, labels)
        kg = 1.0 - F.cosine_similarity(text, self.clip_text, dim=-1, eps=1e-7).mean()
        loss = ce + self.config.kg_weight * kg
        return MethodOutput(logits=logits, loss=loss, terms={"ce": ce.item(), "kg": kg.item()})
