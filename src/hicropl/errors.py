"""Exceptions raised by hicropl. Each carries a message that says what to do."""


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
