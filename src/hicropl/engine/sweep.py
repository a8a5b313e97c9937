"""``hicropl sweep``: a grid of methods x datasets x shots x seeds, each a run folder.

Finished runs (result.json present) are skipped, so a sweep can be rerun after a failure or an
interruption and only does what is left. Launchers: ``local`` (one after the other, in this
process), ``gpus`` (one subprocess per visible GPU at a time, via CUDA_VISIBLE_DEVICES) and
``slurm`` (a submitit job array; needs ``pip install 'hicropl[slurm]'``). Each launcher writes a job's
resolved run config into its run folder and trains it through :mod:`hicropl.engine.job`.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from hicropl.data.protocols import get_protocol
from hicropl.engine.config_files import resolve_config_file
from hicropl.engine.job import train_from_file, write_job_file
from hicropl.engine.run import default_run_dir
from hicropl.engine.run_config import RunConfig, load_run_config, read_yaml
from hicropl.errors import ConfigError, HicroplError, TrainingInterrupted
from hicropl.results.run_folder import RunFolder
from hicropl.typed_config import from_dict

log = logging.getLogger("hicropl.sweep")


@dataclass
class SlurmConfig:
    partition: str = ""
    timeout_min: int = 720
    gpus_per_node: int = 1
    cpus_per_task: int = 8
    mem_gb: int = 64
    parallelism: int = 16  # array tasks running at once
    account: str = ""


@dataclass
class SweepConfig:
    protocol: str = "base2novel"
    methods: tuple[str, ...] = ()
    datasets: tuple[str, ...] = ()  # empty: the protocol's training datasets
    shots: tuple[int, ...] = ()  # empty: the protocol's shots
    seeds: tuple[int, ...] = (1, 2, 3)
    config: str = ""  # a run config (YAML) for every method ...
    # ... or one per method ("hicropl") or per method and dataset ("hicropl/ImageNet"), which wins:
    # a YAML file, or the run config's content itself (a mapping of sections).
    configs: dict[str, str | dict[str, Any]] = field(default_factory=dict)
    overrides: tuple[str, ...] = ()  # dotted key=value for every run
    root: str = "runs"
    clip: str = ""
    data_root: str = ""
    launcher: Literal["local", "gpus", "slurm"] = "local"
    gpus: tuple[int, ...] = ()  # empty: every visible GPU
    slurm: SlurmConfig = field(default_factory=SlurmConfig)


@dataclass
class Job:
    """One run of a sweep: its resolved config and its run folder."""

    config: RunConfig
    output: Path

    @property
    def name(self) -> str:
        data = self.config.data
        return f"{self.config.method_name} {data.dataset} K={data.shots} seed={self.config.seed}"

    def write(self) -> Path:
        """The job's config file in its run folder (written now), which the launchers train from."""
        return write_job_file(self.config, self.output)


def load_sweep(file: str | Path | None, flags: dict[str, Any]) -> SweepConfig:
    """The sweep YAML (if any) with command-line values (None = not given) on top.

    ``file`` may be a path or the name of a shipped sweep (``sweeps/hicropl_base2novel``). The run
    configs it names (``config``, ``configs``) are found relative to the sweep file's folder, else among
    the shipped configs, so a sweep runs from any working directory; ``root``, ``clip`` and ``data_root``
    stay relative to the working directory, like the flags that override them.
    """
    data: dict[str, Any] = {}
    if file:
        found = resolve_config_file(file)
        data = read_yaml(found)
        _resolve_run_configs(data, found.parent)
    data.update({key: value for key, value in flags.items() if value not in (None, (), [])})
    return from_dict(SweepConfig, data)


def _resolve_run_configs(data: dict[str, Any], folder: Path) -> None:
    """Replace the run config names of a sweep file by the files they point to (absolute paths)."""
    if isinstance(data.get("config"), str) and data["config"]:
        data["config"] = str(resolve_config_file(data["config"], folder).absolute())
    configs = data.get("configs")
    if isinstance(configs, dict):
        for key, source in configs.items():
            if isinstance(source, str):
                configs[key] = str(resolve_config_file(source, folder).absolute())


def plan(sweep: SweepConfig) -> list[Job]:
    protocol = get_protocol(sweep.protocol)
    if not sweep.methods:
        raise ConfigError("The sweep names no method: pass --methods NAME ... or set methods: in the sweep file.")
    datasets = sweep.datasets or protocol.train_datasets
    shots = sweep.shots or protocol.shots_options
    jobs = []
    parsed: dict[str, dict[str, Any]] = {}
    for method in sweep.methods:
        for dataset in datasets:
            source = _config_source(sweep, method, dataset)
            if isinstance(source, str) and source not in parsed:
                parsed[source] = read_yaml(source)
            content = parsed[source] if isinstance(source, str) else source
            for k in shots:
                for seed in sweep.seeds:
                    flags = {
                        "method.name": method,
                        "data.dataset": dataset,
                        "data.protocol": protocol.name,
                        "data.shots": k,
                        "seed": seed,
                        "clip": sweep.clip or None,
                        "data.root": sweep.data_root or None,
                    }
                    config = load_run_config(content, flags, sweep.overrides)
                    jobs.append(Job(config, default_run_dir(config, sweep.root)))
    return jobs


def _config_source(sweep: SweepConfig, method: str, dataset: str) -> str | dict[str, Any] | None:
    """The run config file (or content) of ``method`` on ``dataset``; None: defaults only."""
    from hicropl.data.naming import name_key

    per_dataset = [
        source
        for key, source in sweep.configs.items()
        if key.partition("/")[0] == method and name_key(key.partition("/")[2]) == name_key(dataset)
    ]
    source = per_dataset[0] if per_dataset else sweep.configs.get(method) or sweep.config or None
    if source is not None and not isinstance(source, (str, dict)):
        raise ConfigError(f"configs: {method}'s entry must be a YAML file or a mapping of sections, not {source!r}")
    return source


def pending(jobs: Sequence[Job]) -> tuple[list[Job], list[Job]]:
    """(jobs to run, finished jobs to skip)."""
    done = [j for j in jobs if RunFolder.at(j.output).is_finished()]
    return [j for j in jobs if j not in done], done


def run_local(jobs: Sequence[Job], progress: bool = False) -> list[tuple[Job, str]]:
    """Train one job after the other; returns the failures (job, message). Ctrl-C stops the sweep."""
    failures = []
    for index, job in enumerate(jobs, start=1):
        log.info("[%d/%d] %s -> %s", index, len(jobs), job.name, job.output)
        try:
            train_from_file(job.write(), job.output, progress=progress)
        except TrainingInterrupted:
            raise
        except HicroplError as exc:
            log.error("%s failed: %s", job.name, exc)
            failures.append((job, str(exc)))
    return failures


def visible_gpus() -> list[int]:
    import torch

    return list(range(torch.cuda.device_count()))


def job_command(config_file: Path, output: Path) -> list[str]:
    """The command line that trains one job in a subprocess."""
    return [sys.executable, "-m", "hicropl.engine.job", str(config_file), str(output)]


Spawner = Callable[..., Any]


def run_on_gpus(
    jobs: Sequence[Job], gpus: Sequence[int], spawn: Spawner = subprocess.Popen, poll_seconds: float = 2.0
) -> list[tuple[Job, str]]:
    """At most one job per GPU at a time, each a subprocess of :mod:`hicropl.engine.job` pinned by
    CUDA_VISIBLE_DEVICES; its output goes to ``train.out`` in the run folder."""
    if not gpus:
        raise ConfigError("The gpus launcher found no GPU; use --launcher local, or name GPUs with --gpus 0 1 ...")
    queue = list(jobs)
    running: dict[int, tuple[Job, Any, Any]] = {}
    failures: list[tuple[Job, str]] = []
    while queue or running:
        for gpu in gpus:
            if gpu not in running and queue:
                job = queue.pop(0)
                config_file = job.write()
                out = open(job.output / "train.out", "a", encoding="utf-8")  # noqa: SIM115 (closed when done)
                env = {**os.environ, "CUDA_VISIBLE_DEVICES": str(gpu)}
                process = spawn(
                    job_command(config_file, job.output),
                    env=env,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                )
                log.info("GPU %d: %s", gpu, job.name)
                running[gpu] = (job, process, out)
        for gpu, (job, process, out) in list(running.items()):
            code = process.poll()
            if code is None:
                continue
            out.close()
            del running[gpu]
            if code != 0:
                failures.append((job, f"exit code {code}; see {job.output / 'train.out'}"))
        if running:
            time.sleep(poll_seconds)
    return failures


def submit_slurm(jobs: Sequence[Job], sweep: SweepConfig) -> tuple[str, list[str]]:
    """A submitit job array with one task per job; returns the cluster kind and the job ids.

    Without SLURM, submitit's AutoExecutor falls back to local processes (``cluster == "local"``).
    """
    try:
        import submitit
    except ImportError as exc:
        raise ConfigError("--launcher slurm needs submitit: pip install 'hicropl[slurm]'") from exc

    executor = submitit.AutoExecutor(folder=str(Path(sweep.root) / "slurm" / "%j"))
    params: dict[str, Any] = {
        "timeout_min": sweep.slurm.timeout_min,
        "gpus_per_node": sweep.slurm.gpus_per_node,
        "cpus_per_task": sweep.slurm.cpus_per_task,
        "mem_gb": sweep.slurm.mem_gb,
        "slurm_array_parallelism": sweep.slurm.parallelism,
    }
    if sweep.slurm.partition:
        params["slurm_partition"] = sweep.slurm.partition
    if sweep.slurm.account:
        params["slurm_account"] = sweep.slurm.account
    executor.update_parameters(**params)
    files = [str(job.write()) for job in jobs]
    submitted = executor.map_array(train_from_file, files, [str(job.output) for job in jobs])
    return executor.cluster, [str(job.job_id) for job in submitted]
