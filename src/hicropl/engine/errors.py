"""Training-time errors; both leave a resumable run folder behind."""

from hicropl.errors import HicroplError


class NonFiniteLossError(HicroplError):
    """The loss became NaN or infinite; the last good checkpoint was kept."""


class TrainingInterrupted(HicroplError):
    """Ctrl-C (or a stop request): a resumable checkpoint was written at the end of the current step."""
