"""Stand-ins for the few Dassl names the authors' trainers use, so that ``bench_authors.py`` can run a
trainer's own ``build_model`` and ``forward_backward`` without Dassl installed.

Written after Dassl.pytorch's ``TrainerBase``/``SimpleTrainer``/``TrainerX`` (register_model,
model_backward_and_update, set_model_mode, model_inference) and its ``build_optimizer`` for the
optimisers the published configs name (sgd, adam); the learning-rate scheduler is never stepped in a
benchmark, so ``build_lr_scheduler`` returns None and ``update_lr`` does nothing. stdlib and torch only.
"""

from __future__ import annotations

import sys
import types
from typing import Any

import torch

_DEVICE = torch.device("cpu")  # set by install()


def unused(*_args: Any, **_kwargs: Any) -> None:
    raise RuntimeError("a Dassl stand-in the benchmark does not provide was called")


def build_optimizer(model: Any, optim_cfg: Any, param_groups: Any = None) -> torch.optim.Optimizer:
    params = param_groups if param_groups is not None else model.parameters()
    if optim_cfg.NAME == "sgd":
        return torch.optim.SGD(
            params, lr=optim_cfg.LR, momentum=0.9, weight_decay=optim_cfg.WEIGHT_DECAY, dampening=0, nesterov=False
        )
    if optim_cfg.NAME == "adam":
        return torch.optim.Adam(params, lr=optim_cfg.LR, weight_decay=optim_cfg.WEIGHT_DECAY, eps=optim_cfg.EPS)
    raise ValueError(f"optimiser {optim_cfg.NAME!r} is not one the published configs use")


def build_lr_scheduler(*_args: Any, **_kwargs: Any) -> None:
    return None


def compute_accuracy(output: torch.Tensor, target: torch.Tensor, topk: tuple[int, ...] = (1,)) -> list[torch.Tensor]:
    maxk = max(topk)
    pred = output.topk(maxk, 1, True, True)[1].t()
    correct = pred.eq(target.view(1, -1).expand_as(pred))
    return [correct[:k].reshape(-1).float().sum(0, keepdim=True) * (100.0 / target.size(0)) for k in topk]


class TrainerX:
    """What the trainers call on their base class; ``build_model`` is the trainer's own."""

    def __init__(self, cfg: Any, classnames: list[str]) -> None:
        self.cfg = cfg
        self.dm = types.SimpleNamespace(dataset=types.SimpleNamespace(classnames=classnames))
        self.device = _DEVICE
        self._models: dict[str, torch.nn.Module] = {}
        self._optims: dict[str, Any] = {}
        self._scheds: dict[str, Any] = {}
        self.batch_idx = 0
        self.num_batches = 1 << 30  # never the last batch: update_lr is not reached
        self.epoch = 0
        self.start_epoch = 0
        self.max_epoch = cfg.OPTIM.MAX_EPOCH
        self.build_model()

    def register_model(self, name: str = "model", model: Any = None, optim: Any = None, sched: Any = None) -> None:
        self._models[name] = model
        self._optims[name] = optim
        self._scheds[name] = sched

    def get_model_names(self, names: Any = None) -> list[str]:
        if names is None:
            return list(self._models)
        return [names] if isinstance(names, str) else list(names)

    def set_model_mode(self, mode: str = "train", names: Any = None) -> None:
        for name in self.get_model_names(names):
            self._models[name].train() if mode == "train" else self._models[name].eval()

    def model_zero_grad(self, names: Any = None) -> None:
        for name in self.get_model_names(names):
            if self._optims[name] is not None:
                self._optims[name].zero_grad()

    def model_backward(self, loss: torch.Tensor) -> None:
        loss.backward()

    def model_update(self, names: Any = None) -> None:
        for name in self.get_model_names(names):
            if self._optims[name] is not None:
                self._optims[name].step()

    def model_backward_and_update(self, loss: torch.Tensor, names: Any = None) -> None:
        self.model_zero_grad(names)
        self.model_backward(loss)
        self.model_update(names)

    def update_lr(self, names: Any = None) -> None:
        pass

    def parse_batch_train(self, batch: dict[str, Any]) -> tuple[Any, Any]:
        return batch["img"].to(self.device), batch["label"].to(self.device)

    def model_inference(self, images: torch.Tensor) -> Any:
        return self.model(images)  # type: ignore[attr-defined]


def install(device: torch.device) -> None:
    """Put the stand-ins in ``sys.modules`` under Dassl's module names; trainers run on ``device``."""
    global _DEVICE
    _DEVICE = device
    registry = types.SimpleNamespace(register=lambda *a, **k: lambda cls: cls)
    modules = {
        "dassl": {},
        "dassl.engine": {"TRAINER_REGISTRY": registry, "TrainerX": TrainerX},
        "dassl.metrics": {"compute_accuracy": compute_accuracy},
        "dassl.utils": {"load_pretrained_weights": unused, "load_checkpoint": unused},
        "dassl.optim": {"build_optimizer": build_optimizer, "build_lr_scheduler": build_lr_scheduler},
    }
    for name, attributes in modules.items():
        module = types.ModuleType(name)
        module.__dict__.update(attributes)
        sys.modules[name] = module
