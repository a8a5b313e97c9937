"""A sweep job on disk: its fully resolved run config in a YAML file, trained by one entry point.

Every sweep launcher runs a job through :func:`train_from_file`: in the sweep's process (``local``),
in a subprocess ``python -m hicropl.engine.job CONFIG_FILE OUTPUT`` (``gpus``), or in a submitit
task (``slurm``). The file is the only description of the run, so what runs is what was planned.

The file is ``sweep_job.yaml`` in the run folder, beside (not instead of) the ``config.yaml`` the
run writes itself: when an unfinished run is resumed, ``config.yaml`` holds the settings it started
with and the run refuses to continue under other ones; a sweep rewriting ``config.yaml`` before the
run starts would hide that difference.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hicropl.atomic import atomic_write_text
from hicropl.engine.run_config import RunConfig, dump_run_config, load_run_config
from hicropl.errors import exit_code_of

JOB_FILE = "sweep_job.yaml"


def write_job_file(config: RunConfig, output: str | Path) -> Path:
    """Write ``config`` (resolved) as ``output/sweep_job.yaml``; returns the file."""
    path = Path(output).expanduser() / JOB_FILE
    atomic_write_text(path, dump_run_config(config))
    return path


def train_from_file(config_file: str | Path, output: str | Path, progress: bool = False) -> dict[str, Any]:
    """Train the run config in ``config_file`` in the run folder ``output``; returns result.json.

    Quiet on the console (the run folder's log.txt has everything), as befits a job among many.
    """
    from hicropl.engine.run import train

    return train(load_run_config(config_file), output, quiet=True, progress=progress)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m hicropl.engine.job CONFIG_FILE OUTPUT``: exit 0 when finished, 2 on a library error,
    130, 143 or 138 when stopped by Ctrl-C, SIGTERM or SIGUSR1 (the run folder then holds a resumable
    checkpoint)."""
    parser = argparse.ArgumentParser(prog="python -m hicropl.engine.job", description=main.__doc__)
    parser.add_argument("config_file", help="a resolved run config (YAML), e.g. RUN/sweep_job.yaml")
    parser.add_argument("output", help="the run folder")
    args = parser.parse_args(argv)

    def run() -> int:
        result = train_from_file(args.config_file, args.output)
        summary = ", ".join(f"{k} {v:.2f}" for k, v in result["summary"].items())
        print(f"{args.output}: {summary}")
        return 0

    return exit_code_of(run)


if __name__ == "__main__":
    sys.exit(main())
