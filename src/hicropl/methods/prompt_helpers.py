"""Pieces every prompt method builds the same way: learnable context vectors (random or word-initialised),
the text the class prompts are tokenized from, and per-layer deep prompts.

All encoding still goes through :meth:`CLIPBackbone.encode_text` / ``encode_image`` with
:class:`~hicropl.clip.encoders.TextPrompts` / :class:`~hicropl.clip.encoders.ImagePrompts`; these
helpers only build the tensors handed to those injection points.

Word initialisation (CoOp's ``ctx_init``, also used by CoCoOp, KgCoOp, IVLP and MaPLe), for a
context of ``m`` tokens and init words that tokenize to ``n`` BPE tokens:

* ``n >= m``: the first ``m`` tokens of the words become the learnable context; the remaining words
  stay in the prompt as fixed text (MaPLe/IVLP: ``m=2`` with "a photo of a" learns "a photo" and keeps
  "of a"). The prompt prefix is the init text itself.
* ``n < m``: the first ``n`` context vectors are the words' embeddings, the others are drawn from
  N(0, 0.02); the prompt prefix is ``m`` placeholder tokens.
* no init: all ``m`` vectors from N(0, 0.02) (CoOp's random init), placeholder prefix.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from hicropl.clip.features import readable
from hicropl.clip.load import CLIPBackbone
from hicropl.errors import ConfigError
from hicropl.methods.base import ClassSet, ConfigT, PromptMethod

INIT_STD = 0.02


def placeholder(n_ctx: int) -> str:
    """``"X X ... X"``: one placeholder token per context position (each ``X`` is one BPE token)."""
    return " ".join(["X"] * n_ctx)


def normal_prompt(*shape: int, std: float = INIT_STD) -> torch.Tensor:
    """A prompt tensor drawn from N(0, std^2) on the CPU from the global generator (seeded runs agree)."""
    return torch.empty(*shape).normal_(std=std)


def clean_init(ctx_init: str) -> str:
    return ctx_init.replace("_", " ").strip()


@torch.no_grad()
def word_embeddings(backbone: CLIPBackbone, text: str) -> torch.Tensor:
    """Frozen token embeddings of ``text`` without SOS/EOT: ``[n_tokens, text_width]`` fp32 on the CPU."""
    n_tokens = backbone.tokenizer.count(text)
    tokens = backbone.tokenize([text])
    return backbone.text_encoder.token_embeddings(tokens)[0, 1 : 1 + n_tokens].float().cpu()


@dataclass
class ContextInit:
    """The initial learnable context and the prompt text it sits in.

    ``vectors``: ``[m, d]`` (shared) or ``[C, m, d]`` (class-specific). ``prefix``: the text before the
    class name in every class prompt. ``n_words``: context positions initialised from words.
    """

    vectors: torch.Tensor
    prefix: str
    n_words: int

    @property
    def fixed_words(self) -> bool:
        """True when the init words are longer than the context and the rest stays as fixed text."""
        return self.prefix != placeholder(self.vectors.shape[-2])


def init_context(
    backbone: CLIPBackbone,
    n_ctx: int,
    ctx_init: str = "",
    *,
    width: int | None = None,
    per_class: int | None = None,
) -> ContextInit:
    """The first-layer text context of ``n_ctx`` tokens (see the module docstring for the rule).

    ``per_class=C`` gives class-specific vectors ``[C, m, d]``, each class initialised alike.
    """
    width = width or backbone.text_width
    shape = (per_class, n_ctx, width) if per_class is not None else (n_ctx, width)
    init = clean_init(ctx_init)
    if not init:
        return ContextInit(normal_prompt(*shape), placeholder(n_ctx), 0)
    words = word_embeddings(backbone, init)
    if words.shape[0] >= n_ctx:
        vectors = words[:n_ctx].expand(shape).clone()
        return ContextInit(vectors, init, n_ctx)
    vectors = normal_prompt(*shape)
    vectors[..., : words.shape[0], :] = words
    return ContextInit(vectors, placeholder(n_ctx), words.shape[0])


def class_prompt_texts(prefix: str, classnames: Sequence[str]) -> list[str]:
    """``"<prefix> <class name>."`` per class (CoOp's prompt layout, class token at the end)."""
    return [f"{prefix} {readable(name)}.".lstrip() for name in classnames]


def tokenize_class_prompts(backbone: CLIPBackbone, prefix: str, classnames: Sequence[str]) -> torch.Tensor:
    """The tokenized class prompts ``[C, context_length]`` on the backbone's device."""
    return backbone.tokenize(class_prompt_texts(prefix, classnames))


class ClassPromptTokens(PromptMethod[ConfigT]):
    """A prompt method whose class prompts are ``"<prompt_prefix> <class name>."``, tokenized once per
    class set into the ``tokenized_prompts`` buffer. Subclasses set ``prompt_prefix`` before
    ``set_classes`` first runs."""

    prompt_prefix: str
    tokenized_prompts: torch.Tensor

    def set_classes(self, classes: ClassSet) -> None:
        super().set_classes(classes)
        tokens = tokenize_class_prompts(self.backbone, self.prompt_prefix, classes.names)
        self.register_buffer("tokenized_prompts", tokens, persistent=False)


def deep_prompts(count: int, n_ctx: int, width: int) -> nn.ParameterList:
    """``count`` learnable ``[n_ctx, width]`` prompts from N(0, 0.02): one per deeper layer."""
    return nn.ParameterList([nn.Parameter(normal_prompt(n_ctx, width)) for _ in range(count)])


def check_depth(depth: int, layers: int, field: str) -> None:
    """Prompts can go into at most as many layers as the encoder has."""
    if depth > layers:
        raise ConfigError(f"{field}: {depth} exceeds the backbone's {layers} layers")
