"""Optimiser recipes: the settings reach torch, and coupled vs decoupled weight decay do what they say."""

from __future__ import annotations

import pytest
import torch

from hicropl.engine.optim import build_optimizer
from hicropl.engine.run_config import OptimConfig
from hicropl.errors import ConfigError


def _param() -> torch.nn.Parameter:
    param = torch.nn.Parameter(torch.tensor([1.0, -2.0]))
    param.grad = torch.tensor([0.5, 0.25])
    return param


def test_official_adam_recipe():
    optimizer = build_optimizer([_param()], OptimConfig())
    group = optimizer.param_groups[0]
    assert type(optimizer) is torch.optim.Adam
    assert (group["lr"], group["betas"], group["eps"], group["weight_decay"]) == (0.0025, (0.9, 0.999), 1e-3, 5e-4)
    assert group["foreach"] is False


def test_coupled_adam_adds_l2_to_the_gradient():
    param = _param()
    optimizer = build_optimizer([param], OptimConfig(lr=0.1, eps=1e-3, weight_decay=0.5))
    start = param.detach().clone()
    grad = param.grad + 0.5 * start
    optimizer.step()
    # First Adam step with bias correction: m_hat = g, v_hat = g^2.
    expected = start - 0.1 * grad / (grad.abs() + 1e-3)
    torch.testing.assert_close(param.detach(), expected)


def test_decoupled_adam_shrinks_the_weights():
    param = _param()
    optimizer = build_optimizer([param], OptimConfig(lr=0.1, eps=1e-3, weight_decay=0.5, weight_decay_mode="decoupled"))
    assert type(optimizer) is torch.optim.AdamW
    start = param.detach().clone()
    grad = param.grad.clone()
    optimizer.step()
    expected = start * (1 - 0.1 * 0.5) - 0.1 * grad / (grad.abs() + 1e-3)
    torch.testing.assert_close(param.detach(), expected)


def test_sgd_momentum_and_decay_modes():
    coupled, decoupled = _param(), _param()
    sgd = build_optimizer([coupled], OptimConfig(name="sgd", lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.5))
    assert sgd.param_groups[0]["momentum"] == 0.9 and sgd.param_groups[0]["nesterov"] is True
    start = coupled.detach().clone()
    grad = coupled.grad + 0.5 * start
    sgd.step()
    # Nesterov first step: buf = g, update = g + momentum * buf.
    torch.testing.assert_close(coupled.detach(), start - 0.1 * (grad + 0.9 * grad))
    sgd2 = build_optimizer(
        [decoupled], OptimConfig(name="sgd", lr=0.1, momentum=0.0, weight_decay=0.5, weight_decay_mode="decoupled")
    )
    grad = decoupled.grad.clone()
    sgd2.step()
    torch.testing.assert_close(decoupled.detach(), start * (1 - 0.05) - 0.1 * grad)


@pytest.mark.parametrize(("field", "value"), [("lr", 0.0), ("eps", -1.0), ("betas", (0.9,)), ("weight_decay", -0.1)])
def test_invalid_settings_name_the_field(field, value):
    from hicropl.typed_config import from_dict

    with pytest.raises(ConfigError, match=f"optim.{field}"):
        from_dict(OptimConfig, {field: value}, prefix="optim.")
