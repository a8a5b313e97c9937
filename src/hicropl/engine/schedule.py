"""Learning-rate schedules as pure functions of training progress (epochs, possibly fractional).

The official recipe (Dassl's ConstantWarmupScheduler over CosineAnnealingLR, stepped per epoch):
epoch 0 runs at a constant 1e-5, then ``lr(e) = lr * (1 + cos(pi * (e - 1) / E)) / 2`` with E the
number of epochs. Here: ``warmup_epochs`` W, period P (default E), and
``lr(e) = min_lr + (lr - min_lr) * (1 + cos(pi * (e - W) / P)) / 2`` after the warm-up.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from hicropl.engine.run_config import ScheduleConfig


def lr_at(progress: float, base_lr: float, config: ScheduleConfig, epochs: int) -> float:
    """The learning rate at ``progress`` epochs into training (an integer when stepped per epoch)."""
    warmup = config.warmup_epochs
    if progress < warmup:
        if config.warmup_type == "constant":
            return config.warmup_lr
        return config.warmup_lr + (base_lr - config.warmup_lr) * progress / warmup
    if config.name == "constant":
        return base_lr
    period = config.period_epochs or max(epochs, 1)
    angle = math.pi * min(progress - warmup, period) / period
    return config.min_lr + (base_lr - config.min_lr) * (1 + math.cos(angle)) / 2


class Scheduler:
    """Sets the optimiser's learning rate before every optimiser step from (epoch, step)."""

    def __init__(
        self, optimizer: torch.optim.Optimizer, config: ScheduleConfig, epochs: int, steps_per_epoch: int
    ) -> None:
        self.optimizer = optimizer
        self.config = config
        self.epochs = epochs
        self.steps_per_epoch = max(steps_per_epoch, 1)
        self.base_lrs = [group.get("initial_lr", group["lr"]) for group in optimizer.param_groups]
        for group, base in zip(optimizer.param_groups, self.base_lrs, strict=True):
            group["initial_lr"] = base
        self.last_lr = list(self.base_lrs)

    def progress(self, epoch: int, step: int) -> float:
        if self.config.step_per == "epoch":
            return float(epoch)
        return epoch + step / self.steps_per_epoch

    def set(self, epoch: int, step: int) -> float:
        """Apply the rate for optimiser step ``step`` of ``epoch``; returns the first group's rate."""
        progress = self.progress(epoch, step)
        self.last_lr = [lr_at(progress, base, self.config, self.epochs) for base in self.base_lrs]
        for group, lr in zip(self.optimizer.param_groups, self.last_lr, strict=True):
            group["lr"] = lr
        return self.last_lr[0]

    def state_dict(self) -> dict[str, Any]:
        return {
            "base_lrs": list(self.base_lrs),
            "last_lr": list(self.last_lr),
            "steps_per_epoch": self.steps_per_epoch,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.base_lrs = [float(x) for x in state["base_lrs"]]
        self.last_lr = [float(x) for x in state["last_lr"]]
        for group, lr in zip(self.optimizer.param_groups, self.last_lr, strict=True):
            group["lr"] = lr
