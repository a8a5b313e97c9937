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


class TrainingInterrupted(HicroplError):
    """Ctrl-C (or a stop request): a resumable checkpoint was written at the end of the current step."""


def exit_code_of(action: Callable[[], int]) -> int:
    """Run a command's ``action`` and return its exit code; a library error becomes one line on stderr
    and code 2, an interrupt (Ctrl-C, or a stop that left a resumable checkpoint) code 130. Shared by
    the ``hicropl`` command and the sweep job entry point, so both report alike."""
    try:
        return action()
    except TrainingInterrupted as exc:
        print(f"interrupted: {exc}", file=sys.stderr)
        return 130
    except HicroplError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
