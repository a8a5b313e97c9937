"""``hicropl sweep``: a grid of runs on one machine, several GPUs or SLURM."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from hicropl.cli.common import ENV_CLIP, ENV_DATA, add_clip, add_data_root, env_or, examples, subcommand


def add_parsers(sub: Any) -> None:
    sweep = subcommand(
        sub,
        "sweep",
        "run a grid of methods x datasets x shots x seeds, skipping finished runs",
        examples(
            "hicropl sweep --file sweeps/hicropl_base2novel --data-root ~/data --clip ViT-B-16.pt",
            "hicropl sweep --methods hicropl zeroshot --protocol base2novel --datasets EuroSAT DescribableTextures "
            "--seeds 1 2 3 --config hicropl/base2novel",
            "hicropl sweep --file sweep.yaml --launcher gpus          # one run per visible GPU at a time",
            "hicropl sweep --file sweep.yaml --launcher slurm         # needs pip install 'hicropl[slurm]'",
            "hicropl sweep --file sweep.yaml --dry-run",
        ),
    )
    sweep.add_argument(
        "--file",
        help="a sweep YAML (fields: protocol, methods, datasets, shots, seeds, config, "
        "configs, overrides, root, clip, data_root, launcher, gpus, slurm)",
    )
    sweep.add_argument("--protocol")
    sweep.add_argument("--methods", nargs="+")
    sweep.add_argument("--datasets", nargs="+")
    sweep.add_argument("--shots", nargs="+", type=int)
    sweep.add_argument("--seeds", nargs="+", type=int)
    sweep.add_argument("--config", help="run config (a YAML file or a shipped name) applied to every run")
    sweep.add_argument("--root", help="where run folders go (default: runs)")
    sweep.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    add_data_root(sweep)
    add_clip(sweep)
    sweep.add_argument("--launcher", choices=["local", "gpus", "slurm"])
    sweep.add_argument("--gpus", nargs="+", type=int, help="GPU indices for --launcher gpus (default: all visible)")
    sweep.add_argument("--dry-run", action="store_true", help="list the runs and whether they are done")
    sweep.set_defaults(handler=cmd_sweep)


def cmd_sweep(args: argparse.Namespace) -> int:
    from hicropl.engine import sweep as sweeps
    from hicropl.engine.runlog import run_logging

    flags = {
        "protocol": args.protocol,
        "methods": args.methods,
        "datasets": args.datasets,
        "shots": args.shots,
        "seeds": args.seeds,
        "config": args.config,
        "root": args.root,
        "clip": env_or(args.clip, ENV_CLIP),
        "data_root": env_or(args.data_root, ENV_DATA),
        "launcher": args.launcher,
        "gpus": args.gpus,
        "overrides": args.overrides,
    }
    config = sweeps.load_sweep(args.file, flags)
    jobs = sweeps.plan(config)
    todo, done = sweeps.pending(jobs)
    print(f"{len(jobs)} runs: {len(done)} finished (skipped), {len(todo)} to run")
    if args.dry_run:
        for job in jobs:
            print(f"  [{'done' if job not in todo else 'todo'}] {job.name} -> {job.output}")
        return 0
    if not todo:
        return 0
    with run_logging(None):
        if config.launcher == "slurm":
            cluster, ids = sweeps.submit_slurm(todo, config)
            more = " ..." if len(ids) > 3 else ""
            print(f"submitted {len(ids)} array tasks to {cluster}: {', '.join(ids[:3])}{more}")
            return 0
        if config.launcher == "gpus":
            failures = sweeps.run_on_gpus(todo, list(config.gpus) or sweeps.visible_gpus())
        else:
            failures = sweeps.run_local(todo)
    for job, message in failures:
        print(f"failed: {job.name}: {message}", file=sys.stderr)
    print(f"{len(todo) - len(failures)} of {len(todo)} runs finished")
    return 1 if failures else 0
