"""Exceptions raised by hicropl. Each carries a message that says what to do."""

import sys
from collections.abc import Callable


class HicroplError(Exception):
    """Base class for errors with a user-facing message (the CLI prints them without a traceback)."""


class CheckpointError(HicroplError):
    """A CLIP checkpoint is missing, unreadable, not a CLIP, or does not match the requested model."""


class ConfigError(HicroplError, ValueError):
    """A configuration field has an invalid value."""


class DataError(HicroplError):
    """A dataset folder, split file or image is missing or broken."""


class NonFiniteLossError(HicroplError):
    """The loss became NaN or infinite; the last good checkpoint was kept."""


# The exit code of a run stopped by a signal: 128 + the signal's number, as shells report it.
INTERRUPT_EXIT_CODES = {"SIGINT": 130, "SIGUSR1": 138, "SIGTERM": 143}


class TrainingInterrupted(HicroplError):
    """Ctrl-C, SIGTERM or SIGUSR1 (or a stop request): the run stopped at a step boundary, leaving a
    resumable checkpoint (or nothing to redo); ``signal_name`` says which signal asked."""

    def __init__(self, message: str, signal_name: str = "SIGINT") -> None:
        super().__init__(message)
        self.signal_name = signal_name

    def __reduce__(self) -> tuple[type, tuple[str, str]]:
        return type(self), (str(self), self.signal_name)

    @property
    def exit_code(self) -> int:
        return INTERRUPT_EXIT_CODES.get(self.signal_name, 130)


def console_line(exc: BaseException) -> str:
    """The one line the command prints for ``exc`` (a run's log.txt ends with the same line)."""
    if isinstance(exc, TrainingInterrupted):
        return f"interrupted: {exc}"
    if isinstance(exc, HicroplError):
        return f"error: {exc}"
    if isinstance(exc, KeyboardInterrupt):
        return "interrupted"
    return f"error: {type(exc).__name__}: {exc}"


def exit_code_of(action: Callable[[], int]) -> int:
    """Run a command's ``action`` and return its exit code; a library error becomes one line on stderr
    and code 2. A run stopped by a signal after leaving a resumable checkpoint exits with 128 + the
    signal's number: 130 for Ctrl-C (SIGINT), 143 for SIGTERM (what SLURM and torchrun send), 138 for
    SIGUSR1 (SLURM's ``--signal`` warning before the time limit). A second Ctrl-C (no checkpoint) is 130
    too. Shared by the ``hicropl`` command and the sweep job entry point, so both report alike."""
    try:
        return action()
    except TrainingInterrupted as exc:
        print(console_line(exc), file=sys.stderr)
        return exc.exit_code
    except HicroplError as exc:
        print(console_line(exc), file=sys.stderr)
        return 2
    except KeyboardInterrupt as exc:
        print(console_line(exc), file=sys.stderr)
        return 130
