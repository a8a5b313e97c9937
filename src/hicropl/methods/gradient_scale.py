"""Scaling a gradient without changing the forward value."""

from __future__ import annotations

from typing import Any

import torch


class _ScaleGradient(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, factor: float) -> torch.Tensor:
        ctx.factor = factor
        return x.view_as(x)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        return grad * ctx.factor, None


def scale_gradient(x: torch.Tensor, factor: float) -> torch.Tensor:
    """``x`` in the forward; the gradient flowing back through it is multiplied by ``factor``."""
    return _ScaleGradient.apply(x, factor)
