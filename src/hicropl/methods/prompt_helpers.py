"""Pieces every prompt method builds the same way: learnable context vectors (random or word-initialised),
the text the class prompts are tokenized from, and per-layer deep prompts.

All encoding still goes through :meth:`CLIPBackbone.encode_text` / ``encode_image`` with
:class:`~hicropl.clip.encoders.TextPrompts` / :class:`~hicropl.clip.encoders.ImagePrompts`; these
helpers only build the tensors handed to those injection points.

Word initialisation (``ctx_init``) follows each method's authors, who use one of two rules:

* CoOp's (CoOp, CoCoOp, KgCoOp; KaiyangZhou/CoOp ``trainers/coop.py:72-80``): the context length is
  the number of space-separated words of ``ctx_init``, whatever ``N_CTX`` says
  (:func:`words_context`);
* MaPLe's (MaPLe, IVLP; muzairkhattak/multimodal-prompt-learning ``trainers/maple.py:84-92``): the
  context length ``m`` is given, and only ``m <= 4`` is word-initialised (:func:`leading_tokens_context`).

Either way the context starts as the token embeddings at positions ``1..m`` of the tokenized
``ctx_init``, the class prompts are ``"<ctx_init> <class name>."`` and the learnable vectors replace
positions ``1..m`` of their tokens: init tokens beyond ``m`` stay in the prompt as fixed text (MaPLe
with ``m = 2`` and "a photo of a" learns "a photo" and keeps "of a"). Without ``ctx_init`` the vectors
are drawn from N(0, 0.02) and the prompt text has one "X" placeholder per vector.
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
    """The authors replace ``_`` by spaces and nothing else (a stray space counts as a word for CoOp)."""
    return ctx_init.replace("_", " ")


@dataclass
class ContextInit:
    """The initial learnable context and the prompt text it sits in.

    ``vectors``: ``[m, d]`` (shared) or ``[C, m, d]`` (class-specific). ``prefix``: the text before the
    class name in every class prompt.
    """

    vectors: torch.Tensor
    prefix: str


def random_context(n_ctx: int, width: int, per_class: int | None = None) -> ContextInit:
    """N(0, 0.02) vectors ``[m, d]`` (``[C, m, d]`` with ``per_class=C``) behind ``m`` placeholders."""
    shape = (per_class, n_ctx, width) if per_class is not None else (n_ctx, width)
    return ContextInit(normal_prompt(*shape), placeholder(n_ctx))


@torch.no_grad()
def _leading_embeddings(backbone: CLIPBackbone, text: str, count: int, field: str) -> torch.Tensor:
    """Frozen token embeddings at positions ``1..count`` of ``tokenize(text)``: ``[count, d]`` fp32 CPU."""
    n_tokens = backbone.tokenizer.count(text)
    if n_tokens < count:
        raise ConfigError(
            f"{field}: {text!r} has {n_tokens} tokens but the context has {count} vectors. The authors' code "
            f"would take the end-of-text and padding embeddings as context and overwrite the first class-name "
            f"tokens of every prompt with them; use at most {n_tokens} context vectors or longer init words."
        )
    tokens = backbone.tokenize([text])
    return backbone.text_encoder.token_embeddings(tokens)[0, 1 : 1 + count].float().cpu().clone()


def words_context(backbone: CLIPBackbone, ctx_init: str) -> ContextInit:
    """CoOp's rule: ``m`` = the number of space-separated words of ``ctx_init`` (coop.py:75)."""
    init = clean_init(ctx_init)
    return ContextInit(_leading_embeddings(backbone, init, len(init.split(" ")), "ctx_init"), init)


def leading_tokens_context(backbone: CLIPBackbone, ctx_init: str, n_ctx: int) -> ContextInit:
    """MaPLe's rule: the first ``n_ctx`` tokens of ``ctx_init`` (maple.py:91); the caller checks ``n_ctx <= 4``."""
    init = clean_init(ctx_init)
    return ContextInit(_leading_embeddings(backbone, init, n_ctx, "ctx_init"), init)


MAPLE_MAX_WORD_INIT = 4  # maple.py:84 / independentVL.py:82: ``if ctx_init and n_ctx <= 4``


def check_word_init_length(n_ctx: int, ctx_init: str, field: str, source: str) -> None:
    """MaPLe and IVLP word-initialise only contexts of at most 4 vectors; longer ones silently ignore
    ``ctx_init``. Refuse instead of ignoring the user's setting."""
    if ctx_init and n_ctx > MAPLE_MAX_WORD_INIT:
        raise ConfigError(
            f"{field}: {n_ctx} with ctx_init {ctx_init!r}: the authors' code ({source}) initialises words only "
            f"for at most {MAPLE_MAX_WORD_INIT} context vectors and otherwise ignores ctx_init (random N(0, 0.02) "
            "context, 'X' placeholders). Set ctx_init: '' for that, or at most 4 vectors."
        )


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
