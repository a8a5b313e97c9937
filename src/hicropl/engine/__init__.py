"""Training and evaluation for any registered method: loop, recipes, checkpoints, DDP, run folders.

Typical use::

    from hicropl.engine import load_run_config, train
    config = load_run_config("hicropl/base2novel",  # a shipped config, or a YAML path
                             {"data.dataset": "EuroSAT", "data.root": "~/data", "clip": "ViT-B-16.pt", "seed": 1})
    result = train(config, "runs/eurosat-seed1")       # result.json as a dict
"""

from hicropl.engine.evaluate import evaluate
from hicropl.engine.evaluate_run import evaluate_run
from hicropl.engine.metrics import EvalMetrics, metrics_from_confusion
from hicropl.engine.optim import build_optimizer
from hicropl.engine.restore import RestoredRun, restore_run
from hicropl.engine.run import default_run_dir, train
from hicropl.engine.run_config import (
    DataConfig,
    OptimConfig,
    RunConfig,
    ScheduleConfig,
    TrainConfig,
    build_run_config,
    dump_run_config,
    load_run_config,
    run_config_to_dict,
)
from hicropl.engine.schedule import Scheduler, lr_at
from hicropl.engine.trainer import FitResult, Trainer, TrainState
from hicropl.errors import NonFiniteLossError, TrainingInterrupted

__all__ = [
    "DataConfig",
    "EvalMetrics",
    "FitResult",
    "NonFiniteLossError",
    "OptimConfig",
    "RestoredRun",
    "RunConfig",
    "ScheduleConfig",
    "Scheduler",
    "TrainConfig",
    "TrainState",
    "Trainer",
    "TrainingInterrupted",
    "build_optimizer",
    "build_run_config",
    "default_run_dir",
    "dump_run_config",
    "evaluate",
    "evaluate_run",
    "load_run_config",
    "lr_at",
    "metrics_from_confusion",
    "restore_run",
    "run_config_to_dict",
    "train",
]
