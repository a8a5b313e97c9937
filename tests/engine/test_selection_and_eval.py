"""Model selection reloads the best epoch; evaluation computes class features once; optional TensorBoard."""

from __future__ import annotations

import pytest
import torch

from hicropl.clip.random import random_clip
from hicropl.engine.evaluate import evaluate
from hicropl.engine.metrics import EvalMetrics
from hicropl.engine.run import train
from hicropl.engine.run_config import OptimConfig, ScheduleConfig, TrainConfig
from hicropl.engine.trainer import Trainer
from hicropl.errors import ConfigError
from hicropl.methods.base import build_method
from tests.engine.engine_testkit import CLASSES, RandomImages


def _trainer(method, **kwargs) -> Trainer:
    return Trainer(
        method,
        RandomImages(),
        train=TrainConfig(epochs=3, batch_size=4, num_workers=0, **kwargs),
        optim=OptimConfig(lr=0.05),
        sched=ScheduleConfig(warmup_epochs=0),
        seed=0,
    )


@pytest.mark.parametrize(("scores", "chosen", "other"), [([50.0, 80.0, 60.0], 1, 2), ([70.0, 40.0, 70.0], 2, 0)])
def test_best_val_reloads_the_best_epoch(scores, chosen, other):
    method = build_method("test_head", random_clip(seed=0), CLASSES, {"dropout": 0.0})
    snapshots = []
    trainer = _trainer(method, selection="best_val")
    trainer.validate = lambda: EvalMetrics(scores[len(snapshots)], 0.0)
    trainer.on_epoch_end = lambda record: snapshots.append(method.proj.weight.detach().clone())
    fit = trainer.fit()
    assert (fit.selected_epoch, fit.selected_val) == (chosen, scores[chosen])
    assert not torch.equal(snapshots[chosen], snapshots[other])  # ties go to the later epoch
    assert torch.equal(method.proj.weight, snapshots[chosen])


def test_last_selection_keeps_the_final_weights():
    method = build_method("test_head", random_clip(seed=0), CLASSES, {"dropout": 0.0})
    trainer = _trainer(method)
    trainer.validate = lambda: pytest.fail("validation runs only for best_val")
    fit = trainer.fit()
    assert fit.selected_epoch == 2 and fit.selected_val is None


def test_class_features_are_computed_once_per_evaluation(monkeypatch):
    method = build_method("test_head", random_clip(seed=0), CLASSES)
    calls = []
    original = type(method).class_features
    monkeypatch.setattr(type(method), "class_features", lambda self: calls.append(1) or original(self))
    loader = torch.utils.data.DataLoader(RandomImages(), batch_size=2)
    metrics = evaluate(method, loader, CLASSES)
    assert len(calls) == 1 and metrics.count == 8
    assert method.training  # evaluation restores the training mode


def test_tensorboard_is_optional(tmp_path, data_root, tiny_checkpoint, monkeypatch):
    import builtins

    from tests.engine.engine_testkit import tiny_run_config

    real_import = builtins.__import__

    def without_tensorboard(name, *args, **kwargs):
        if name == "torch.utils.tensorboard":
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", without_tensorboard)
    config = tiny_run_config(data_root, tiny_checkpoint, "train.tensorboard=true")
    with pytest.raises(ConfigError, match=r"pip install 'hicropl\[tb\]'"):
        train(config, tmp_path / "run", quiet=True, progress=False)
