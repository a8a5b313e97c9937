"""Tokenisation with open_clip's CLIP BPE tokenizer."""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import torch
from open_clip.tokenizer import SimpleTokenizer


@lru_cache(maxsize=4)
def _simple_tokenizer(context_length: int) -> SimpleTokenizer:
    # Building the BPE tables takes ~0.5 s; share one instance per context length.
    return SimpleTokenizer(context_length=context_length)


class Tokenizer:
    """Callable that maps strings to ``[N, context_length]`` token ids (SOS ... EOT, zero padded)."""

    def __init__(self, context_length: int = 77) -> None:
        self.context_length = context_length
        self._bpe = _simple_tokenizer(context_length)

    @property
    def sot_token_id(self) -> int:
        return int(self._bpe.sot_token_id)

    @property
    def eot_token_id(self) -> int:
        return int(self._bpe.eot_token_id)

    def __call__(self, texts: str | Sequence[str]) -> torch.Tensor:
        if isinstance(texts, str):
            texts = [texts]
        return self._bpe(list(texts), context_length=self.context_length)

    def encode(self, text: str) -> list[int]:
        """BPE ids of ``text`` without SOS/EOT."""
        return list(self._bpe.encode(text))

    def count(self, text: str) -> int:
        return len(self.encode(text))
