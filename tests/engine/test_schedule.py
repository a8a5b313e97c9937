"""Learning-rate schedules: the official recipe's formula, warm-up variants, per-step stepping."""

from __future__ import annotations

import math

import pytest
import torch

from hicropl.engine.run_config import ScheduleConfig
from hicropl.engine.schedule import Scheduler, lr_at


@pytest.mark.parametrize("epochs", [5, 40, 50])
def test_official_recipe_formula(epochs):
    config = ScheduleConfig()  # constant warm-up 1e-5 for one epoch, cosine per epoch
    for epoch in range(epochs):
        expected = 1e-5 if epoch == 0 else 0.0025 * (1 + math.cos(math.pi * (epoch - 1) / epochs)) / 2
        assert lr_at(epoch, 0.0025, config, epochs) == pytest.approx(expected, rel=1e-12, abs=0)


def test_official_recipe_matches_dassl_constant_warmup_over_torch_cosine():
    # Dassl: ConstantWarmupScheduler(successor=CosineAnnealingLR(T_max=E), warmup_epoch=1, cons_lr=1e-5),
    # successor stepped with epoch - warmup after the warm-up.
    epochs = 10
    param = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.SGD([param], lr=0.0025)
    cosine = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs)
    reference = []
    for epoch in range(epochs):
        if epoch == 0:
            reference.append(1e-5)
        else:
            reference.append(cosine.get_last_lr()[0])
            optimizer.step()
            cosine.step()
    ours = [lr_at(e, 0.0025, ScheduleConfig(), epochs) for e in range(epochs)]
    assert ours == pytest.approx(reference, rel=1e-9)


def test_linear_warmup_and_min_lr_and_period():
    config = ScheduleConfig(warmup_epochs=2, warmup_type="linear", warmup_lr=0.0, min_lr=0.001, period_epochs=4)
    assert lr_at(0, 0.01, config, 10) == 0.0
    assert lr_at(1, 0.01, config, 10) == pytest.approx(0.005)
    assert lr_at(2, 0.01, config, 10) == pytest.approx(0.01)
    assert lr_at(4, 0.01, config, 10) == pytest.approx(0.001 + 0.009 * 0.5)
    assert lr_at(9, 0.01, config, 10) == pytest.approx(0.001)  # past the period: stays at the minimum


def test_constant_schedule():
    config = ScheduleConfig(name="constant", warmup_epochs=0)
    assert {lr_at(e, 0.1, config, 5) for e in range(5)} == {0.1}


def test_scheduler_steps_per_step_and_per_epoch():
    param = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.SGD([param], lr=0.01)
    per_step = Scheduler(optimizer, ScheduleConfig(warmup_epochs=0, step_per="step"), epochs=2, steps_per_epoch=4)
    assert per_step.set(0, 2) == pytest.approx(0.01 * (1 + math.cos(math.pi * 0.5 / 2)) / 2)
    assert optimizer.param_groups[0]["lr"] == per_step.last_lr[0]
    per_epoch = Scheduler(optimizer, ScheduleConfig(warmup_epochs=0), epochs=2, steps_per_epoch=4)
    assert per_epoch.set(0, 3) == pytest.approx(0.01)  # the base lr survives the first scheduler's writes
    assert per_epoch.set(1, 0) == pytest.approx(0.01 * (1 + math.cos(math.pi / 2)) / 2)
    state = per_epoch.state_dict()
    per_epoch.set(0, 0)
    per_epoch.load_state_dict(state)
    assert optimizer.param_groups[0]["lr"] == pytest.approx(0.005)
