"""Weighted averaging of a method's trainable state over epochs.

A method that asks for it (``PromptMethod.state_averaging_weights(num_epochs)`` returns one weight per
epoch) is trained as usual, and at the end of every epoch the trainer adds ``w_e * state_e`` to a
running sum of its trainable parameters; at the end of the last epoch the sum is loaded into the
method, so evaluation and the saved checkpoint use the weighted average. The running sum is part of
the run checkpoint, so an interrupted run resumes to the same average. PromptSRC's Gaussian prompt
aggregation (GPA) is the first user (:func:`hicropl.methods.promptsrc.gaussian_epoch_weights`).

The arithmetic is the authors' (muzairkhattak/PromptSRC ``trainers/promptsrc.py:320-335``): every
tensor is multiplied by its epoch's weight in its own dtype (the float64 weight acts as a scalar of
that dtype) and added to the previous sum, in float32 for float32 prompts; the sum is kept on the CPU,
where these two correctly rounded operations give the same bits as on any device.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import torch

from hicropl.errors import ConfigError
from hicropl.methods.base import PromptMethod


def check_epoch_weights(weights: Sequence[float], num_epochs: int, method: str) -> list[float]:
    """One finite, non-negative weight per epoch; returned as a list of floats."""
    values = [float(w) for w in weights]
    if len(values) != num_epochs:
        raise ConfigError(f"{method} returned {len(values)} state-averaging weights for {num_epochs} epochs")
    if not all(math.isfinite(w) and w >= 0 for w in values):
        raise ConfigError(f"{method}'s state-averaging weights must be finite and >= 0, got {values}")
    return values


def trainable_state(method: PromptMethod) -> dict[str, torch.Tensor]:
    """The method's trainable parameters by name (each once), as live tensors."""
    seen: set[int] = set()
    state: dict[str, torch.Tensor] = {}
    for name, param in method.named_parameters():
        if param.requires_grad and id(param) not in seen:
            seen.add(id(param))
            state[name] = param
    return state


def add_weighted_state(
    total: Mapping[str, torch.Tensor] | None, state: Mapping[str, torch.Tensor], weight: float
) -> dict[str, torch.Tensor]:
    """``total + weight * state`` (``weight * state`` when ``total`` is None), on the CPU."""
    weighted = {name: value.detach().cpu() * weight for name, value in state.items()}
    if total is None:
        return weighted
    if set(total) != set(weighted):
        raise ValueError(f"the averaged state has {sorted(total)}, this epoch's has {sorted(weighted)}")
    return {name: total[name] + weighted[name] for name in weighted}


@torch.no_grad()
def load_trainable_state(method: PromptMethod, state: Mapping[str, torch.Tensor]) -> None:
    """Copy ``state`` into the method's trainable parameters (all of them, nothing else)."""
    params = trainable_state(method)
    if set(params) != set(state):
        raise ValueError(f"the averaged state has {sorted(state)}, the method trains {sorted(params)}")
    for name, param in params.items():
        param.copy_(state[name])
