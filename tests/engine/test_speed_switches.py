"""Switches that trade speed or memory must not change what a run learns."""

from __future__ import annotations

import pytest
import torch

from hicropl.engine.run import train
from hicropl.errors import ConfigError
from tests.engine.engine_testkit import tiny_run_config

HICROPL = ("method.n_ctx=2", "method.depth=4", "method.boundary=2", "train.epochs=1")


def _trained(tmp_path, name, data_root, clip, *overrides, method="hicropl"):
    result = train(
        tiny_run_config(data_root, clip, *overrides, method=method), tmp_path / name, quiet=True, progress=False
    )
    state = torch.load(tmp_path / name / "checkpoint.pt", weights_only=True)["method"]
    return result, state


def _assert_same(a, b, atol):
    (result_a, state_a), (result_b, state_b) = a, b
    assert result_a["evaluations"] == result_b["evaluations"]
    assert state_a.keys() == state_b.keys()
    for key in state_a:
        torch.testing.assert_close(state_a[key], state_b[key], atol=atol, rtol=0, msg=key)


def test_gradient_checkpointing_trains_the_same_prompts(tmp_path, data_root, tiny_checkpoint):
    plain = _trained(tmp_path, "plain", data_root, tiny_checkpoint, *HICROPL)
    recomputed = _trained(tmp_path, "ckpt", data_root, tiny_checkpoint, *HICROPL, "train.gradient_checkpointing=true")
    # Recomputation repeats the same fp32 kernels; only summation order can differ.
    _assert_same(plain, recomputed, atol=1e-6)


def test_reference_order_reaches_the_backbone_and_learns_the_same(tmp_path, data_root, tiny_checkpoint, monkeypatch):
    import hicropl.engine.run as run_module

    loaded, original = [], run_module.load_backbone

    def recording_load(*args, **kwargs):
        loaded.append(original(*args, **kwargs))
        return loaded[-1]

    monkeypatch.setattr(run_module, "load_backbone", recording_load)
    fast = _trained(tmp_path, "fast", data_root, tiny_checkpoint, *HICROPL)
    exact = _trained(tmp_path, "exact", data_root, tiny_checkpoint, *HICROPL, "train.reference_order=true")
    assert [backbone.reference_order for backbone in loaded] == [False, True]
    # The fast paths only round differently (fp32, ~1e-6 relative per call).
    _assert_same(fast, exact, atol=1e-5)


def test_compiled_training_matches_eager(tmp_path, data_root, tiny_checkpoint):
    # The "eager" backend runs dynamo's graph capture without code generation: it checks that the
    # method traces and that the compiled module trains the method's own parameters.
    eager = _trained(tmp_path, "eager", data_root, tiny_checkpoint, method="test_head")
    compiled = _trained(
        tmp_path,
        "compiled",
        data_root,
        tiny_checkpoint,
        "train.compile=true",
        "train.compile_backend=eager",
        method="test_head",
    )
    _assert_same(eager, compiled, atol=1e-6)


def test_prefetch_factor_is_validated(data_root, tiny_checkpoint):
    with pytest.raises(ConfigError, match=r"train\.prefetch_factor"):
        tiny_run_config(data_root, tiny_checkpoint, "train.prefetch_factor=0")
