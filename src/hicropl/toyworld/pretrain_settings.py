"""The settings of ToyWorld CLIP pretraining, apart from the training code (the CLI reads their defaults
without importing torch)."""

from __future__ import annotations

from dataclasses import dataclass

from hicropl.errors import ConfigError


@dataclass(frozen=True)
class PretrainSettings:
    """Everything that determines the weights (a resumed run must use the same settings)."""

    steps: int = 4000
    seed: int = 0
    batch_size: int = 256
    pool_size: int = 60000
    lr: float = 1e-3
    warmup: int = 300
    weight_decay: float = 0.05
    glyph_fraction: float = 0.4

    def __post_init__(self) -> None:
        if self.steps < 1:
            raise ConfigError(f"steps must be >= 1, got {self.steps}")
        if self.batch_size < 2:
            raise ConfigError(f"batch_size must be >= 2 (contrastive learning needs negatives), got {self.batch_size}")
        if self.pool_size < self.batch_size:
            raise ConfigError(f"pool_size ({self.pool_size}) must be at least batch_size ({self.batch_size})")
        if self.lr <= 0:
            raise ConfigError(f"lr must be positive, got {self.lr}")
