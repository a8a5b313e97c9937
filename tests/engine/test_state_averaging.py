"""The engine's weighted averaging of the trainable state over epochs (PromptSRC's GPA, for any method)."""

from __future__ import annotations

from typing import Any, ClassVar

import pytest
import torch

from hicropl.engine.run import train
from hicropl.engine.state_averaging import add_weighted_state, check_epoch_weights
from hicropl.errors import ConfigError, TrainingInterrupted
from hicropl.methods import base as method_registry
from hicropl.methods.base import _ensure_builtin_methods
from tests.engine.engine_testkit import LearnableHead, tiny_run_config


class AveragedHead(LearnableHead):
    """The engine's test method, asking for weights growing linearly with the epoch."""

    name = "test_head_averaged"
    built: ClassVar[list[LearnableHead]] = []  # every instance, so that a test can read its live state

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        AveragedHead.built.append(self)

    def state_averaging_weights(self, num_epochs: int) -> list[float]:
        total = num_epochs * (num_epochs + 1) / 2
        return [(epoch + 1) / total for epoch in range(num_epochs)]


@pytest.fixture
def averaged_head(monkeypatch: pytest.MonkeyPatch) -> None:
    """Registered for the test only, so that it never shows up in other tests' method lists."""
    _ensure_builtin_methods()
    monkeypatch.setitem(method_registry._REGISTRY, AveragedHead.name, AveragedHead)


OVERRIDES = ("train.epochs=3", "sched.step_per=step")


def _config(data_root, clip, *extra: str):
    return tiny_run_config(data_root, clip, *OVERRIDES, *extra, method=AveragedHead.name)


def test_weights_must_be_one_per_epoch_finite_and_non_negative() -> None:
    with pytest.raises(ConfigError, match="2 state-averaging weights for 3 epochs"):
        check_epoch_weights([0.5, 0.5], 3, "m")
    with pytest.raises(ConfigError, match="finite and >= 0"):
        check_epoch_weights([0.5, -0.5, 1.0], 3, "m")


def test_weighted_sum_is_weight_times_state_added_in_order() -> None:
    a, b = {"p": torch.tensor([1.0, 3.0])}, {"p": torch.tensor([2.0, 5.0])}
    total = add_weighted_state(add_weighted_state(None, a, 0.25), b, 0.75)
    assert torch.equal(total["p"], a["p"] * 0.25 + b["p"] * 0.75)
    with pytest.raises(ValueError, match="averaged state"):
        add_weighted_state(total, {"q": torch.zeros(2)}, 0.5)


def _end_of_epoch_states(states: list[tuple[int, int, dict[str, torch.Tensor]]]) -> list[dict[str, torch.Tensor]]:
    """The trainable state after the last step of each epoch, from (epoch, step, state) records."""
    last: dict[int, dict[str, torch.Tensor]] = {}
    for epoch, _, state in states:
        last[epoch] = state
    return [last[epoch] for epoch in sorted(last)]


def test_the_weighted_average_is_the_trained_state(tmp_path, data_root, tiny_checkpoint, averaged_head) -> None:
    recorded: list[tuple[int, int, dict[str, torch.Tensor]]] = []
    AveragedHead.built.clear()

    def record(state) -> None:
        method = AveragedHead.built[-1]
        recorded.append((state.epoch, state.step, {k: v.detach().clone() for k, v in method.state_dict().items()}))

    train(_config(data_root, tiny_checkpoint), tmp_path / "run", quiet=True, progress=False, step_callbacks=[record])
    ends = _end_of_epoch_states(recorded)
    assert len(ends) == 3
    weights = [1 / 6, 2 / 6, 3 / 6]
    saved = torch.load(tmp_path / "run" / "checkpoint.pt", weights_only=True)
    for name in ("proj.weight", "proj.bias"):
        expected = ends[0][name] * weights[0] + ends[1][name] * weights[1] + ends[2][name] * weights[2]
        assert torch.equal(saved["method"][name], expected), name
        assert torch.equal(saved["train_state"]["averaged_state"][name], expected), name
        assert not torch.equal(expected, ends[2][name]), "the average must differ from the last epoch's state"


def test_an_interrupted_run_resumes_to_the_same_average(tmp_path, data_root, tiny_checkpoint, averaged_head) -> None:
    train(_config(data_root, tiny_checkpoint), tmp_path / "a", quiet=True, progress=False)

    def stop_after_three_steps(state) -> None:
        if state.global_step == 3:  # epoch 2, step 1: the sum holds epoch 1 only
            raise KeyboardInterrupt

    folder = tmp_path / "b"
    with pytest.raises(TrainingInterrupted):
        train(
            _config(data_root, tiny_checkpoint),
            folder,
            quiet=True,
            progress=False,
            step_callbacks=[stop_after_three_steps],
        )
    interrupted = torch.load(folder / "checkpoint.pt", weights_only=True)
    assert interrupted["train_state"]["epoch"] == 1 and interrupted["train_state"]["averaged_state"] is not None
    train(_config(data_root, tiny_checkpoint), folder, quiet=True, progress=False)
    a = torch.load(tmp_path / "a" / "checkpoint.pt", weights_only=True)
    b = torch.load(folder / "checkpoint.pt", weights_only=True)
    assert a["method"].keys() == b["method"].keys()
    for key, value in a["method"].items():
        assert torch.equal(value, b["method"][key]), key
    for key, value in a["train_state"]["averaged_state"].items():
        assert torch.equal(value, b["train_state"]["averaged_state"][key]), key
