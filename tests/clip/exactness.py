"""Shared by the tests that check a fast path against the plain computation.

Tolerances: features 1e-5 absolute (fp32 round-off of reordered sums on unit-scale features);
gradients 1e-5 relative to each gradient tensor's largest entry.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

Layers = Sequence[torch.Tensor | None]


def features_and_prompt_grads(
    encode: Callable[[list[torch.Tensor | None]], torch.Tensor], layers: Layers
) -> tuple[torch.Tensor, list[torch.Tensor | None]]:
    """``encode`` applied to fresh leaf copies of ``layers``; the gradients of a fixed weighted sum."""
    leaves = [None if t is None else t.detach().clone().requires_grad_(True) for t in layers]
    features = encode(leaves)
    if any(t is not None for t in leaves):
        weights = torch.linspace(-1, 1, features.numel()).view_as(features)
        (features * weights).sum().backward()
    return features.detach(), [None if t is None else t.grad for t in leaves]


def assert_same_features_and_grads(
    fast: tuple[torch.Tensor, list[torch.Tensor | None]], plain: tuple[torch.Tensor, list[torch.Tensor | None]]
) -> None:
    torch.testing.assert_close(fast[0], plain[0], atol=1e-5, rtol=0)
    for index, (a, b) in enumerate(zip(fast[1], plain[1], strict=True)):
        if b is None:
            continue
        scale = b.abs().max().clamp_min(1e-12)
        assert ((a - b).abs().max() / scale).item() < 1e-5, f"gradient of layer {index}"
