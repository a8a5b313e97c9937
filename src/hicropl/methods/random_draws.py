"""The random choices a method makes inside its forward pass, drawn from a seeded generator and replayable.

CoPrompt draws one LLM-description index per training step. Such draws go through
:class:`RandomDraws` under a name, never through Python's ``random`` or an ad-hoc generator, so that

* a seeded run draws the same values: by default they come from torch's global generator, which the
  engine seeds (``seed_everything``) and saves in every checkpoint, so a resumed run draws on where it
  stopped; the data loader's augmentations never touch that generator (they run under per-sample seeds),
  and under DDP every process starts from the same seed and so draws the same values;
* a replay of the authors' recorded draws (a golden trace's ``train<s>.random.<name>``) can queue them:
  the next draws of that name return the recorded values instead.
"""

from __future__ import annotations

import torch


class RandomDraws:
    """Named random draws of a method: ``randint(name, high)``; ``replay(name, value)`` queues a value."""

    def __init__(self, generator: torch.Generator | None = None) -> None:
        self.generator = generator  # None: torch's global generator
        self.last: dict[str, int] = {}  # the latest value drawn under each name
        self._queued: dict[str, list[int]] = {}

    def randint(self, name: str, high: int) -> int:
        """A uniform integer in ``[0, high)``, or the next value queued under ``name``."""
        if high < 1:
            raise ValueError(f"{name}: cannot draw from an empty range [0, {high})")
        queued = self._queued.get(name)
        if queued:
            value = queued.pop(0)
            if not 0 <= value < high:
                raise ValueError(f"{name}: the queued draw {value} is outside [0, {high})")
        else:
            value = int(torch.randint(high, (1,), generator=self.generator).item())
        self.last[name] = value
        return value

    def replay(self, name: str, value: int) -> None:
        """Make the next draw of ``name`` return ``value`` (after any values queued before it)."""
        self._queued.setdefault(name, []).append(int(value))

    def pending(self) -> dict[str, list[int]]:
        """Queued values not drawn yet, by name (empty when every replayed draw was used)."""
        return {name: list(values) for name, values in self._queued.items() if values}
