"""Optimiser recipes: SGD or Adam, with coupled (L2) or decoupled (AdamW-style) weight decay."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from hicropl.engine.run_config import OptimConfig


def build_optimizer(params: Sequence[nn.Parameter], config: OptimConfig) -> torch.optim.Optimizer:
    """The optimiser for ``params``; every value of ``config`` is passed through explicitly."""
    params = list(params)
    if not params:
        raise ValueError("build_optimizer needs at least one trainable parameter")
    decoupled = config.weight_decay_mode == "decoupled"
    if config.name == "adam":
        cls = torch.optim.AdamW if decoupled else torch.optim.Adam
        return cls(
            params,
            lr=config.lr,
            betas=(config.betas[0], config.betas[1]),
            eps=config.eps,
            weight_decay=config.weight_decay,
            foreach=config.foreach,
        )
    if decoupled:
        # torch SGD only has the coupled form.
        return _DecoupledSGD(params, config)
    return torch.optim.SGD(
        params,
        lr=config.lr,
        momentum=config.momentum,
        nesterov=config.nesterov,
        weight_decay=config.weight_decay,
        foreach=config.foreach,
    )


class _DecoupledSGD(torch.optim.SGD):
    """SGD whose weight decay shrinks the weights directly (p -= lr * wd * p) instead of the gradient."""

    def __init__(self, params: list[nn.Parameter], config: OptimConfig) -> None:
        super().__init__(
            params,
            lr=config.lr,
            momentum=config.momentum,
            nesterov=config.nesterov,
            weight_decay=0.0,
            foreach=config.foreach,
        )
        for group in self.param_groups:
            group["decoupled_decay"] = config.weight_decay

    @torch.no_grad()
    def step(self, closure=None):  # type: ignore[no-untyped-def,override]
        for group in self.param_groups:
            decay = group.get("decoupled_decay", 0.0)
            if decay:
                for param in group["params"]:
                    if param.grad is not None:
                        param.mul_(1 - group["lr"] * decay)
        return super().step(closure)
