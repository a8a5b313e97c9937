"""What ``hicropl demo`` runs, apart from the demo itself: the CLI builds its parser from these
without importing the data layer or torch (``hicropl --help`` stays quick)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from hicropl.errors import ConfigError

# The names of hicropl.data.toyworld.TOYWORLD_DATASETS (a test keeps the two equal).
TOYWORLD_DATASET_NAMES: tuple[str, ...] = ("ToyWorldShapes", "ToyWorldGlyphs")
ALL_METHODS: tuple[str, ...] = ("zeroshot", "coop", "hicropl-paper", "hicropl-official")
# Not run by default: HiCroPL (paper) without its consistency loss, an unregularised comparison that
# shows how Novel accuracy suffers from overfitting (its runs carry the label hicropl-nocons).
EXTRA_METHODS: tuple[str, ...] = ("hicropl-nocons",)


@dataclass(frozen=True)
class DemoSettings:
    """What the demo runs; a folder is resumed only with the same settings."""

    shots: int = 16
    seeds: tuple[int, ...] = (1,)
    datasets: tuple[str, ...] = TOYWORLD_DATASET_NAMES
    methods: tuple[str, ...] = ALL_METHODS
    epochs: int = 10
    batch_size: int = 32
    lr: float = 0.0025
    n_ctx: int = 16  # prompt length of HiCroPL and CoOp, as in hicropl/configs (the tiny CLIP has a 32-token context)
    ctx_init: str = ""  # random initialisation, as in hicropl/configs ("a photo of a" with n_ctx=4 also works)
    device: str = "auto"

    def __post_init__(self) -> None:
        if self.shots < 1:
            raise ConfigError(f"shots must be >= 1, got {self.shots}")
        if not self.seeds:
            raise ConfigError("give at least one seed")
        if self.epochs < 1:
            raise ConfigError(f"epochs must be >= 1, got {self.epochs}")
        unknown = [m for m in self.methods if m not in ALL_METHODS + EXTRA_METHODS]
        if unknown:
            raise ConfigError(f"unknown demo methods {unknown}; choose from {', '.join(ALL_METHODS + EXTRA_METHODS)}")

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["seeds"] = list(self.seeds)
        data["datasets"] = list(self.datasets)
        data["methods"] = list(self.methods)
        return data
