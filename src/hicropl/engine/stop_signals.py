"""Ctrl-C (SIGINT), SIGTERM and SIGUSR1 during a run: stop cleanly, at a point a rerun resumes from.

While training, a signal only records a stop request: the trainer finishes the optimiser step in
progress (or the epoch's validation), writes a checkpoint and raises ``TrainingInterrupted``. A second
Ctrl-C stops at once, without a checkpoint. Outside training (loading data, building the model, the
final evaluations) there is nothing to save, since the finished checkpoint is written before the
evaluations, so a signal stops at once: the handler raises :class:`SignalInterrupt`, which
:meth:`StopSignals.as_training_interrupted` turns into ``TrainingInterrupted`` naming what a rerun
does. SLURM sends SIGTERM on preemption and at the time limit (and SIGUSR1 with ``--signal``), torchrun
SIGTERM to every rank; each exits with 128 + the signal's number (``hicropl.errors.exit_code_of``).
"""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
from collections.abc import Iterator
from types import FrameType

from hicropl.errors import TrainingInterrupted

log = logging.getLogger("hicropl.run")

SIGNALS = ("SIGINT", "SIGTERM", "SIGUSR1")


def describe(signal_name: str) -> str:
    return "Ctrl-C (SIGINT)" if signal_name == "SIGINT" else signal_name


class SignalInterrupt(KeyboardInterrupt):
    """A stop signal outside training. A KeyboardInterrupt, so ``except Exception`` blocks (a cache
    reader that discards what it cannot load) let it through untouched."""

    def __init__(self, signal_name: str) -> None:
        super().__init__(signal_name)
        self.signal_name = signal_name


class StopSignals:
    """The run's handlers for SIGINT, SIGTERM and SIGUSR1, and the stop request they record."""

    def __init__(self) -> None:
        self.requested: str | None = None  # the first signal's name
        self.deferring = False
        self.installed_handlers = False
        self.phase = "setting up the run"
        self.kept = "nothing was trained yet"

    def request(self, signal_name: str) -> None:
        """Ask training to stop at the next step boundary (the handlers, and the trainer's callbacks)."""
        if self.requested is None:
            self.requested = signal_name

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        name = signal.Signals(signum).name
        if not self.deferring:
            raise SignalInterrupt(name)
        if self.requested is not None:
            if name == "SIGINT":
                raise KeyboardInterrupt
            return
        self.request(name)
        again = " (Ctrl-C again to stop at once, without a checkpoint)" if name == "SIGINT" else ""
        log.warning("%s: stopping after the current step, with a checkpoint%s.", describe(name), again)

    @contextlib.contextmanager
    def installed(self) -> Iterator[StopSignals]:
        """Handle the signals for the block (main thread only: elsewhere Python cannot handle signals)."""
        if threading.current_thread() is not threading.main_thread():
            yield self
            return
        previous = {}
        for name in SIGNALS:
            number = getattr(signal, name, None)
            if number is not None:
                previous[number] = signal.signal(number, self._handle)
        self.installed_handlers = True
        try:
            yield self
        finally:
            self.installed_handlers = False
            for number, handler in previous.items():
                signal.signal(number, handler)

    @contextlib.contextmanager
    def deferred(self) -> Iterator[None]:
        """Signals only record a stop request in the block (training, where steps are checkpointed)."""
        self.deferring = True
        try:
            yield
        finally:
            self.deferring = False
        if self.requested is not None:  # a request the block ended without acting on still stops the run
            raise SignalInterrupt(self.requested)

    @contextlib.contextmanager
    def as_training_interrupted(self) -> Iterator[None]:
        """Turn a signal that stopped the block at once into ``TrainingInterrupted`` (with its exit code)."""
        try:
            yield
        except SignalInterrupt as exc:
            raise TrainingInterrupted(
                f"Stopped by {describe(exc.signal_name)} while {self.phase}; {self.kept}. Rerun the same command "
                "to resume.",
                exc.signal_name,
            ) from None
