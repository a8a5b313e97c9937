"""The human log of a run: ``log.txt`` in the run folder, and the console unless ``--quiet``.

When the run fails, log.txt ends with the line the console shows for the error
(``hicropl.errors.console_line``); it is written to the file only, since the command prints it.
"""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import Iterator
from pathlib import Path

from tqdm.auto import tqdm

from hicropl.errors import console_line

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

# ``log.info(..., extra=FILE_ONLY)``: a line for log.txt that the console leaves out, because the command
# itself prints it (a run's final result), so that it is not shown twice.
FILE_ONLY = {"file_only": True}


class _TqdmHandler(logging.StreamHandler):
    """Console lines that do not break progress bars."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            tqdm.write(self.format(record), file=sys.stderr)
        except Exception:
            self.handleError(record)


def _not_file_only(record: logging.LogRecord) -> bool:
    return not getattr(record, "file_only", False)


class _FileHandler(logging.FileHandler):
    """log.txt; a line that cannot be written (a full disk) is dropped quietly: the run's own error says
    what went wrong, and a logging traceback on the console would only bury it."""

    def handleError(self, record: logging.LogRecord) -> None:
        pass


@contextlib.contextmanager
def run_logging(log_file: Path | None, quiet: bool = False, enabled: bool = True) -> Iterator[None]:
    """Send the ``hicropl`` loggers to ``log_file`` (appending) and, unless ``quiet``, to the console."""
    logger = logging.getLogger("hicropl")
    handlers: list[logging.Handler] = []
    if enabled and log_file is not None:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        file_handler = _FileHandler(log_file, encoding="utf-8")
        file_handler.setFormatter(logging.Formatter(FORMAT))
        handlers.append(file_handler)
    if enabled and not quiet:
        console = _TqdmHandler()
        console.setFormatter(logging.Formatter("%(message)s"))
        console.addFilter(_not_file_only)
        handlers.append(console)
    previous_level = logger.level
    logger.setLevel(logging.INFO)
    for handler in handlers:
        logger.addHandler(handler)
    try:
        yield
    except BaseException as exc:
        if any(isinstance(handler, logging.FileHandler) for handler in handlers):
            logger.error(console_line(exc), extra={"file_only": True})
        raise
    finally:
        for handler in handlers:
            logger.removeHandler(handler)
            handler.close()
        logger.setLevel(previous_level)
