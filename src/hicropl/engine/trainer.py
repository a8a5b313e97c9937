"""The training loop, the same for every registered method.

It only uses the method interface: ``trainable_parameters()``, ``method(images, labels).loss``,
``state_dict()`` and ``state_averaging_weights(epochs)`` (the weighted average of the trainable state
over epochs, :mod:`hicropl.engine.state_averaging`). Mixed precision, gradient accumulation, DDP,
checkpoint/resume, stop requests (Ctrl-C, SIGTERM, SIGUSR1: :mod:`hicropl.engine.stop_signals`) and
non-finite losses are handled here, once.
"""

from __future__ import annotations

import contextlib
import logging
import math
import signal
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from hicropl.engine.distributed import DistInfo, all_reduce_sum, barrier, broadcast_flag
from hicropl.engine.metrics import EvalMetrics
from hicropl.engine.optim import build_optimizer
from hicropl.engine.run_checkpoint import FORMAT, VERSION, assert_no_backbone_tensors, atomic_save, method_state
from hicropl.engine.run_config import OptimConfig, ScheduleConfig, TrainConfig
from hicropl.engine.sampling import SeededBatchSampler, SeededDataset
from hicropl.engine.schedule import Scheduler
from hicropl.engine.seeding import capture_rng_state, restore_rng_state
from hicropl.engine.state_averaging import (
    add_weighted_state,
    check_epoch_weights,
    load_trainable_state,
    trainable_state,
)
from hicropl.engine.stop_signals import StopSignals, describe
from hicropl.errors import ConfigError, NonFiniteLossError, TrainingInterrupted
from hicropl.methods.base import PromptMethod
from hicropl.precision import autocast, needs_grad_scaler, resolve_precision

log = logging.getLogger("hicropl.train")


@dataclass
class TrainState:
    """Where training stands; everything here goes into the checkpoint."""

    epoch: int = 0  # the epoch in progress (== epochs when training is done)
    step: int = 0  # optimiser steps finished within `epoch`
    global_step: int = 0
    loss_sum: float = 0.0  # running sums of the current epoch, so a resumed epoch logs the same mean
    loss_count: int = 0
    terms_sum: dict[str, float] = field(default_factory=dict)
    best_epoch: int = -1
    best_score: float = -math.inf
    best_state: dict[str, torch.Tensor] | None = None
    # Running sum of weight_e * trainable state at the end of epochs 1..`epoch` (methods that average it).
    averaged_state: dict[str, torch.Tensor] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "epoch": self.epoch,
            "step": self.step,
            "global_step": self.global_step,
            "loss_sum": self.loss_sum,
            "loss_count": self.loss_count,
            "terms_sum": dict(self.terms_sum),
            "best_epoch": self.best_epoch,
            "best_score": self.best_score,
            "best_state": self.best_state,
            "averaged_state": self.averaged_state,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainState:
        return cls(**data)


@dataclass
class FitResult:
    trained: bool
    state: TrainState
    selected_epoch: int | None
    selected_val: float | None
    seconds: float


StepCallback = Callable[[TrainState], None]


def _leave_stop_signals_to_the_main_process(worker_id: int) -> None:
    """SLURM and torchrun signal every process of the job: a loader worker killed by SIGTERM would end the
    run with an error before the main process could checkpoint."""
    for name in ("SIGTERM", "SIGUSR1"):
        number = getattr(signal, name, None)
        if number is not None:
            signal.signal(number, signal.SIG_IGN)


class Trainer:
    """Trains ``method`` on ``train_data`` (a map-style dataset of ``(image, label, index)``)."""

    def __init__(
        self,
        method: PromptMethod,
        train_data: Any,
        *,
        train: TrainConfig,
        optim: OptimConfig,
        sched: ScheduleConfig,
        seed: int,
        checkpoint_path: Path | None = None,
        dist: DistInfo | None = None,
        validate: Callable[[], EvalMetrics] | None = None,
        on_epoch_end: Callable[[dict[str, Any]], None] | None = None,
        step_callbacks: list[StepCallback] | None = None,
        progress: bool = False,
        scalar_writer: Any = None,
        stop: StopSignals | None = None,
    ) -> None:
        self.method = method
        self.train_data = train_data
        self.train_config = train
        self.optim_config = optim
        self.sched_config = sched
        self.seed = seed
        self.checkpoint_path = checkpoint_path
        self.dist = dist or DistInfo()
        self.validate = validate
        self.on_epoch_end = on_epoch_end
        self.step_callbacks = list(step_callbacks or [])
        self.progress = progress and self.dist.is_main
        self.scalar_writer = scalar_writer
        self.device = method.device
        self.precision = resolve_precision(train.precision, self.device)
        self.state = TrainState()
        # The run's signal handlers (engine.run installs them for the whole run); alone, fit installs them.
        self.stop = stop
        self.params = method.trainable_parameters()
        self.optimizer: torch.optim.Optimizer | None = None
        self.scheduler: Scheduler | None = None
        self.scaler: torch.amp.GradScaler | None = None
        self.sampler: SeededBatchSampler | None = None
        averaging = method.state_averaging_weights(train.epochs) if train.epochs > 0 else None
        self.averaging_weights = (
            None if averaging is None else check_epoch_weights(averaging, train.epochs, method.name)
        )
        if self.params:
            assert_no_backbone_tensors(self.params, method.backbone, "the optimiser's parameters")
            self.optimizer = build_optimizer(self.params, optim)
            per_process = train.batch_size // self.dist.world_size
            if per_process * self.dist.world_size != train.batch_size:
                raise ConfigError(
                    f"train.batch_size={train.batch_size} (the global batch) is not divisible by the "
                    f"{self.dist.world_size} processes; set it to a multiple of {self.dist.world_size}."
                )
            self.sampler = SeededBatchSampler(
                len(train_data), train.batch_size, seed, self.dist.rank, self.dist.world_size
            )
            if self.sampler.smallest_share() == 0:
                raise ConfigError(
                    f"The training set ({len(train_data)} images, global batch {train.batch_size}) leaves some of "
                    f"the {self.dist.world_size} processes without a single image; use fewer processes or more shots."
                )
            steps = -(-self.sampler.num_batches() // train.grad_accum)
            self.scheduler = Scheduler(self.optimizer, sched, train.epochs, steps)
            if needs_grad_scaler(train.precision, self.device):
                self.scaler = torch.amp.GradScaler(self.device.type)

    # --- checkpoints ------------------------------------------------------------------------------
    def checkpoint(self, finished: bool = False) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "version": VERSION,
            "method_name": self.method.name,
            "backbone_checksum": self.method.backbone.checksum,
            "method": method_state(self.method, self.method.backbone),
            "optimizer": self.optimizer.state_dict() if self.optimizer else None,
            "scheduler": self.scheduler.state_dict() if self.scheduler else None,
            "scaler": self.scaler.state_dict() if self.scaler else None,
            "train_state": self.state.to_dict(),
            "rng": capture_rng_state(),
            "data": {
                "seed": self.seed,
                "epoch": self.state.epoch,
                "step": self.state.step,
                "grad_accum": self.train_config.grad_accum,
            },
            "finished": finished,
        }

    def save_checkpoint(self, finished: bool = False) -> None:
        if self.checkpoint_path is not None and self.dist.is_main:
            atomic_save(self.checkpoint(finished), self.checkpoint_path)
        barrier(self.dist)

    def load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """Restore everything a checkpoint holds (the method's parameters included)."""
        self.method.load_state_dict(checkpoint["method"])
        if self.optimizer is not None and checkpoint.get("optimizer") is not None:
            self.optimizer.load_state_dict(checkpoint["optimizer"])
        if self.scheduler is not None and checkpoint.get("scheduler") is not None:
            self.scheduler.load_state_dict(checkpoint["scheduler"])
        if self.scaler is not None and checkpoint.get("scaler") is not None:
            self.scaler.load_state_dict(checkpoint["scaler"])
        self.state = TrainState.from_dict(dict(checkpoint["train_state"]))
        restore_rng_state(checkpoint["rng"])

    # --- the loop ---------------------------------------------------------------------------------
    def fit(self) -> FitResult:
        start = time.perf_counter()
        config = self.train_config
        if self.optimizer is None or config.epochs == 0:
            why = "it has no trainable parameters" if self.optimizer is None else "train.epochs is 0"
            if self.method.fits_in_closed_form:
                log.info("%s is fitted in closed form, not by the optimiser.", self.method.name)
            else:
                log.info("Not training %s: %s; evaluating only.", self.method.name, why)
            return FitResult(False, self.state, None, None, time.perf_counter() - start)
        if config.selection == "best_val" and self.validate is None:
            log.warning("train.selection=best_val but there is no validation split: testing the last epoch.")
        loader = self._loader()
        model = self._wrapped()
        epochs_bar = tqdm(total=config.epochs, initial=self.state.epoch, desc="epochs", disable=not self.progress)
        with self._stop_signals() as stop, stop.deferred():
            while self.state.epoch < config.epochs:
                self._run_epoch(model, loader)
                epochs_bar.update(1)
                self._stop_if_requested(saved=True)  # a signal during validation stops at the epoch's end
        epochs_bar.close()
        selected_epoch, selected_val = config.epochs - 1, None
        if config.selection == "best_val" and self.state.best_state is not None:
            self.method.load_state_dict(self.state.best_state)
            selected_epoch, selected_val = self.state.best_epoch, self.state.best_score
            log.info("Selected epoch %d (val accuracy %.2f).", selected_epoch + 1, selected_val)
        return FitResult(True, self.state, selected_epoch, selected_val, time.perf_counter() - start)

    def _loader(self) -> DataLoader:
        workers = self.train_config.num_workers
        return DataLoader(
            SeededDataset(self.train_data),
            batch_sampler=self.sampler,
            num_workers=workers,
            pin_memory=self.device.type == "cuda",
            persistent_workers=workers > 0,
            prefetch_factor=self.train_config.prefetch_factor if workers > 0 else None,
            # Its own generator: creating an iterator must not draw from the global RNG (exact resume).
            generator=torch.Generator().manual_seed(self.seed),
            worker_init_fn=_leave_stop_signals_to_the_main_process if workers > 0 else None,
        )

    def _wrapped(self) -> torch.nn.Module:
        model: torch.nn.Module = self.method
        if self.train_config.compile:
            # The compiled module shares the method's parameters: optimiser, checkpoints and evaluation
            # keep using the method itself.
            model = torch.compile(model, backend=self.train_config.compile_backend)  # type: ignore[assignment]
        if not self.dist.enabled:
            return model
        device_ids = [self.device.index] if self.device.type == "cuda" else None
        # Only the method is wrapped: the frozen backbone is not a submodule of it.
        return DistributedDataParallel(model, device_ids=device_ids, find_unused_parameters=True)

    def _run_epoch(self, model: torch.nn.Module, loader: DataLoader) -> None:
        assert self.sampler is not None and self.scheduler is not None and self.optimizer is not None
        state, config = self.state, self.train_config
        accum = config.grad_accum
        micro_total = self.sampler.num_batches()
        steps_total = -(-micro_total // accum)
        epoch_start = time.perf_counter()
        self.sampler.set_epoch(state.epoch, start_batch=state.step * accum)
        self.method.train()
        bar = tqdm(
            total=steps_total,
            initial=state.step,
            desc=f"epoch {state.epoch + 1}/{config.epochs}",
            leave=False,
            disable=not self.progress,
        )
        self.optimizer.zero_grad(set_to_none=True)
        lr = self.scheduler.set(state.epoch, state.step)
        micro = state.step * accum
        for batch in loader:
            group_start = (micro // accum) * accum
            group_size = min(accum, micro_total - group_start)
            if micro == group_start:
                lr = self.scheduler.set(state.epoch, state.step)
            last = micro == group_start + group_size - 1
            loss_value, terms = self._micro_step(model, batch, group_size, sync=last)
            state.loss_sum += loss_value
            state.loss_count += 1
            for key, value in terms.items():
                state.terms_sum[key] = state.terms_sum.get(key, 0.0) + float(value)
            micro += 1
            if not last:
                continue
            self._optimizer_step()
            state.step += 1
            state.global_step += 1
            bar.update(1)
            bar.set_postfix(loss=f"{loss_value:.4f}", lr=f"{lr:.2e}")
            if self.scalar_writer is not None and self.dist.is_main:
                self.scalar_writer.add_scalar("train/loss", loss_value, state.global_step)
                self.scalar_writer.add_scalar("train/lr", lr, state.global_step)
            self._after_step()
        bar.close()
        self._finish_epoch(lr, time.perf_counter() - epoch_start)

    def _micro_step(
        self, model: torch.nn.Module, batch: Any, group_size: int, sync: bool
    ) -> tuple[float, dict[str, float]]:
        images = batch[0].to(self.device, non_blocking=True)
        labels = batch[1].to(self.device, non_blocking=True)
        second_view = self._second_view(batch)
        no_sync = model.no_sync() if isinstance(model, DistributedDataParallel) and not sync else None
        with no_sync or contextlib.nullcontext():
            with autocast(self.precision, self.device):
                output = model(images, labels, second_view=second_view)
            if output.loss is None:
                raise RuntimeError(f"{self.method.name} returned no loss for a labelled training batch")
            loss = output.loss.float()
            value = float(loss.detach())
            self._check_finite(value)
            scaled = loss / group_size
            (self.scaler.scale(scaled) if self.scaler is not None else scaled).backward()
        return value, output.terms

    def _second_view(self, batch: Any) -> torch.Tensor | None:
        """The batch's second augmented view, for a method that declares ``takes_second_view``."""
        if not self.method.takes_second_view:
            return None
        if len(batch) < 4:
            raise ConfigError(
                f"{self.method.name} trains on a second augmented view of each image, but the training data "
                "yields one view; build it with second_view=True (engine.data.load_training_data does so for "
                "methods that declare takes_second_view)"
            )
        view: torch.Tensor = batch[3].to(self.device, non_blocking=True)
        return view

    def _check_finite(self, value: float) -> None:
        bad = broadcast_flag(not math.isfinite(value), self.dist, self._reduce_device())
        if not bad:
            return
        state = self.state
        where = f"epoch {state.epoch + 1}, step {state.step + 1} (global step {state.global_step + 1})"
        kept = (
            f"the last good checkpoint {self.checkpoint_path} is kept"
            if self.checkpoint_path is not None and self.checkpoint_path.exists()
            else "no checkpoint had been written yet"
        )
        advice = (
            "try --set train.precision=bf16 or fp32 (fp16 overflows easily), or a lower --set optim.lr=..."
            if self.precision != "fp32"
            else "try a lower --set optim.lr=... (and keep train.precision at bf16 or fp32, not fp16)"
        )
        raise NonFiniteLossError(f"The loss became {value} at {where}; training stopped and {kept}; {advice}.")

    def _optimizer_step(self) -> None:
        assert self.optimizer is not None
        if self.scaler is not None:
            self.scaler.step(self.optimizer)
            self.scaler.update()
        else:
            self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)

    def _after_step(self) -> None:
        for callback in self.step_callbacks:
            try:
                callback(self.state)
            except KeyboardInterrupt:
                self._requests().request("SIGINT")
        self._stop_if_requested()

    def _requests(self) -> StopSignals:
        if self.stop is None:
            self.stop = StopSignals()
        return self.stop

    def _stop_if_requested(self, saved: bool = False) -> None:
        """At a step boundary: if any process was asked to stop, checkpoint (unless ``saved``) and stop."""
        requested = self._requests().requested
        if not broadcast_flag(requested is not None, self.dist, self._reduce_device()):
            return
        if not saved:
            self.save_checkpoint()
        state = self.state
        where = f"epoch {state.epoch + 1}, step {state.step}" if state.step else f"the end of epoch {state.epoch}"
        target = self.checkpoint_path or "memory (no run folder)"
        by = describe(requested) if requested is not None else "a stop request on another process"
        raise TrainingInterrupted(
            f"Interrupted by {by} after {where}; a resumable checkpoint was written to {target}. Rerun the same "
            "command to resume.",
            requested or "SIGINT",
        )

    def _finish_epoch(self, lr: float, seconds: float) -> None:
        state = self.state
        # Means over every micro-batch of every process: sums and counts are all-reduced together.
        keys = sorted(state.terms_sum)
        values = [state.loss_sum, float(state.loss_count), *(state.terms_sum[k] for k in keys)]
        reduced = all_reduce_sum(torch.tensor(values, dtype=torch.float64).to(self._reduce_device()), self.dist)
        totals: list[float] = reduced.cpu().tolist()
        count = max(totals[1], 1.0)
        record: dict[str, Any] = {
            "epoch": state.epoch + 1,
            "lr": lr,
            "loss": totals[0] / count,
            "steps": state.step,
            "global_step": state.global_step,
        }
        record.update({key: total / count for key, total in zip(keys, totals[2:], strict=True)})
        self._average_state()
        if self.validate is not None and self.train_config.selection == "best_val":
            val = self.validate()
            record["val_accuracy"] = val.accuracy
            if val.accuracy >= state.best_score:  # ties go to the later epoch
                state.best_score = val.accuracy
                state.best_epoch = state.epoch
                state.best_state = method_state(self.method, self.method.backbone)
        record["seconds"] = round(seconds, 3)
        log.info(" ".join(f"{k}={v:.6g}" if isinstance(v, float) else f"{k}={v}" for k, v in record.items()))
        if self.scalar_writer is not None and self.dist.is_main and "val_accuracy" in record:
            self.scalar_writer.add_scalar("val/accuracy", record["val_accuracy"], state.global_step)
        if self.on_epoch_end is not None and self.dist.is_main:
            self.on_epoch_end(record)
        state.epoch += 1
        state.step = 0
        state.loss_sum, state.loss_count, state.terms_sum = 0.0, 0, {}
        self.save_checkpoint()

    def _average_state(self) -> None:
        """Add this epoch's weighted trainable state to the running sum; after the last epoch the sum
        becomes the method's state (before validation and the checkpoint, which both see it)."""
        if self.averaging_weights is None:
            return
        state = self.state
        weight = self.averaging_weights[state.epoch]
        state.averaged_state = add_weighted_state(state.averaged_state, trainable_state(self.method), weight)
        if state.epoch == len(self.averaging_weights) - 1:
            load_trainable_state(self.method, state.averaged_state)
            log.info("Loaded the weighted average of the trainable state over the %d epochs.", state.epoch + 1)

    def _reduce_device(self) -> torch.device:
        if self.dist.enabled and torch.distributed.get_backend() == "nccl":
            return self.device
        return torch.device("cpu")

    @contextlib.contextmanager
    def _stop_signals(self) -> Iterator[StopSignals]:
        """The run's handlers when engine.run installed them, else this fit's own."""
        if self.stop is not None and self.stop.installed_handlers:
            yield self.stop
            return
        with self._requests().installed() as stop:
            yield stop
