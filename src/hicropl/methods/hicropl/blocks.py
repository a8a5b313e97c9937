"""HiCroPL's building blocks: the layer-specific knowledge proxy (LKP), the alternatives it is ablated
against (mean pooling, a token-mixing MLP), and the hierarchical knowledge mapper (paper Eq. 7-10).

Submodule names (``ln_1``, ``attn``, ``linear_q``, ``ffn.c_fc`` ...) follow the authors' code so that
their checkpoints load into the ``official`` variant without renaming.
"""

from __future__ import annotations

from collections import OrderedDict

import torch
import torch.nn.functional as F
from torch import nn


class QuickGELU(nn.Module):
    """The sigmoid approximation of GELU used by OpenAI's CLIP (and by the authors' mapper FFN)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.sigmoid(1.702 * x)


def _attend(
    attn: nn.MultiheadAttention, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor | None = None
) -> torch.Tensor:
    # Unbatched [L, d] inputs: nn.MultiheadAttention handles them directly.
    return attn(q, k, v, need_weights=False, attn_mask=mask)[0]


class KnowledgeProxy(nn.Module):
    """LKP (Eq. 2): a proxy token attends over one layer's m prompts and becomes one token.

    ``y = q + MHA(LN1(q), LN1(P), LN1(P))``, output ``LN2(y)``.
    """

    def __init__(self, width: int, heads: int) -> None:
        super().__init__()
        # Registration order follows the authors' module, so parameter order (which Adam follows) matches.
        self.attn = nn.MultiheadAttention(width, heads)
        self.ln_1 = nn.LayerNorm(width)
        self.ln_2 = nn.LayerNorm(width)

    def forward(self, proxy: torch.Tensor, prompts: torch.Tensor) -> torch.Tensor:
        q, p = self.ln_1(proxy), self.ln_1(prompts)
        return self.ln_2(proxy + _attend(self.attn, q, p, p))


class MeanCompressor(nn.Module):
    """Ablation (Table 7): the proxy is the mean of the layer's prompts; no parameters."""

    def forward(self, proxy: torch.Tensor, prompts: torch.Tensor) -> torch.Tensor:
        return prompts.mean(dim=0, keepdim=True)


class MLPCompressor(nn.Module):
    """Ablation (Table 7): a 2-layer token-mixing MLP over the m prompt positions, per channel.

    It learns how to weigh the m prompts into one token (m*m + m + m + 1 weights); the proxy token
    itself is unused, as in pooling-by-MLP baselines.
    """

    def __init__(self, n_prompts: int, width: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(n_prompts, n_prompts)
        self.fc2 = nn.Linear(n_prompts, 1)
        self.ln = nn.LayerNorm(width)

    def forward(self, proxy: torch.Tensor, prompts: torch.Tensor) -> torch.Tensor:
        mixed = self.fc2(F.gelu(self.fc1(prompts.t())))  # [d, 1]
        return self.ln(mixed.t())


class KnowledgeMapper(nn.Module):
    """The hierarchical knowledge mapper M (Eq. 7-10).

    Queries are the target modality's prompts of every layer in a segment (``[n*m, d_q]``); keys
    and values are the source proxies of every layer of the segment (``[n, d_kv]``), which is what
    makes it multi-scale. A boolean ``mask`` (True = blocked) restricts each query to some proxies
    (the single-scale ablation).
    """

    def __init__(self, query_width: int, source_width: int, heads: int, quick_gelu: bool = False) -> None:
        super().__init__()
        self.attn = nn.MultiheadAttention(query_width, heads)
        self.linear_q = nn.Linear(query_width, query_width)
        self.linear_k = nn.Linear(source_width, query_width)
        self.linear_v = nn.Linear(source_width, query_width)
        self.ln_1 = nn.LayerNorm(query_width)
        activation: nn.Module = QuickGELU() if quick_gelu else nn.GELU()
        self.ffn = nn.Sequential(
            OrderedDict(
                [
                    ("c_fc", nn.Linear(query_width, 4 * query_width)),
                    ("gelu", activation),
                    ("c_proj", nn.Linear(4 * query_width, query_width)),
                ]
            )
        )
        self.ln_2 = nn.LayerNorm(query_width)

    def forward(self, queries: torch.Tensor, sources: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        q = self.linear_q(queries)
        k = self.linear_k(sources)
        v = self.linear_v(sources)
        q = q + _attend(self.attn, self.ln_1(q), self.ln_1(k), self.ln_1(v), mask)
        return q + self.ffn(self.ln_2(q))


def single_scale_mask(n_layers: int, n_prompts: int, device: torch.device | None = None) -> torch.Tensor:
    """Block mask letting layer l's m prompts see only layer l's proxy: ``[n*m, n]``, True = blocked."""
    rows = torch.arange(n_layers * n_prompts, device=device) // n_prompts
    cols = torch.arange(n_layers, device=device)
    return rows[:, None] != cols[None, :]
