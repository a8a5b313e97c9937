"""The human log of a run: ``log.txt`` in the run folder, and the console unless ``--quiet``."""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import Iterator
from pathlib import Path

from tqdm.auto import tqdm

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

# ``log.info(..., extra=FILE_ONLY)``: a line for log.txt that the console leaves out, because the command
# itself prints it (a run's final result), so that it is not shown twice.
FILE_ONLY = {"console": False}


def _for_console(record: logging.LogRecord) -> bool:
    return getattr(record, "console", True)


class _TqdmHandler(logging.StreamHandler):
    """Console lines that do not break progress bars."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            tqdm.write(self.format(record), file=sys.stderr)
        except Exception:
            self.handleError(record)


@contextlib.contextmanager
def run_logging(log_file: Path | None, quiet: bool = False, enabled: bool = True) -> Iterator[None]:
    """Send the ``hicropl`` loggers to ``log_file`` (appending) and, unless ``quiet``, to the console."""
    logger = logging.getLogger("hicropl")
    handlers: list[logging.Handler] = []
    if enabled and log_file is not None:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        file_handler = logging.FileHandler(log_file, encoding="utf-8")
        file_handler.setFormatter(logging.Formatter(FORMAT))
        handlers.append(file_handler)
    if enabled and not quiet:
        console = _TqdmHandler()
        console.setFormatter(logging.Formatter("%(message)s"))
        console.addFilter(_for_console)
        handlers.append(console)
    previous_level = logger.level
    logger.setLevel(logging.INFO)
    for handler in handlers:
        logger.addHandler(handler)
    try:
        yield
    finally:
        for handler in handlers:
            logger.removeHandler(handler)
            handler.close()
        logger.setLevel(previous_level)
