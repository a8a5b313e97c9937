"""Kill/resume soak: SIGKILL a tiny run at random times, rerun it, and check it ends exactly as an
uninterrupted run does.

    python benchmarks/soak.py --kills 30 --json benchmarks/results/soak.json

Each trial starts the tiny run of ``tests/reliability/child_run.py`` (the tiny CLIP, a miniature
EuroSAT, two epochs with validation; HiCroPL by default, so the few-shot, text and frozen image
feature caches are written too) in a fresh run folder and cache, kills it with SIGKILL after a time
drawn uniformly from [0, the uninterrupted run's time], then reruns the same command once (unless
the kill came after result.json was written). A trial survives when the run ends finished and its
test numbers, selection, per-epoch metrics and trained state are bit for bit those of the
uninterrupted reference.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the tests' tiny run and miniature data

import torch
from tests.engine.engine_testkit import make_eurosat
from tests.reliability import child_run
from tests.reliability.outcomes import outcome_of

from hicropl.clip.random import TINY_CLIP_CONFIG, random_clip


def _trial(index: int, root: Path, data: Path, clip: Path, args: argparse.Namespace, budget: float, rng: random.Random):
    run, cache = root / f"trial{index}" / "run", root / f"trial{index}" / "cache"
    delay = rng.uniform(0, budget)
    child = child_run.start(run, data, clip, cache, "--method", args.method)
    time.sleep(delay)
    code = child.kill() if child.process.is_alive() else child.join()
    killed = code == -9  # not when the run ended on its own just before the kill
    finished = (run / "result.json").exists()  # a kill after result.json leaves a finished run: no rerun
    rerun = child_run.start(run, data, clip, cache, "--method", args.method).join() if not finished else 0
    return {"delay_s": round(delay, 3), "killed": killed, "first_exit": code, "rerun_exit": rerun, "run": run}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kills", type=int, default=30, help="trials, one random SIGKILL each")
    parser.add_argument("--method", default="hicropl", help="hicropl (default) or test_head")
    parser.add_argument("--seed", type=int, default=0, help="seed of the kill times")
    parser.add_argument("--json", type=Path, help="write the figures here")
    args = parser.parse_args(argv)
    rng = random.Random(args.seed)
    root = Path(tempfile.mkdtemp(prefix="hicropl-soak-"))
    start = time.perf_counter()
    try:
        data = make_eurosat(root / "data")
        clip = root / "clip.pt"
        torch.save(random_clip(TINY_CLIP_CONFIG, seed=0).model.state_dict(), clip)
        # The first run also starts the fork server (imports); the second, timed, sets the kill window.
        reference_run, budget = root / "reference" / "run", 0.0
        for name in ("reference", "timed"):
            began = time.perf_counter()
            run = root / name / "run"
            if child_run.start(run, data, clip, root / name / "cache", "--method", args.method).join() != 0:
                raise SystemExit("an uninterrupted run failed")
            budget = time.perf_counter() - began
        reference = outcome_of(reference_run)
        if outcome_of(root / "timed" / "run").differences(reference):
            raise SystemExit("two uninterrupted runs differ: the comparison would mean nothing")
        trials = []
        for index in range(args.kills):
            trial = _trial(index, root, data, clip, args, budget, rng)
            run = trial.pop("run")
            differences = outcome_of(run).differences(reference) if trial["rerun_exit"] == 0 else ["rerun failed"]
            trial["survived"] = not differences
            trial["differences"] = differences
            trials.append(trial)
            print(json.dumps(trial), flush=True)
        killed = [t for t in trials if t["killed"]]
        summary = {
            "method": args.method,
            "trials": len(trials),
            "killed_before_the_end": len(killed),
            "survived_identical": sum(t["survived"] for t in trials),
            "killed_and_survived_identical": sum(t["survived"] for t in killed),
            "reference_run_s": round(budget, 2),
            "wall_s": round(time.perf_counter() - start, 1),
            "trial_records": trials,
        }
    finally:
        shutil.rmtree(root, ignore_errors=True)
    print(
        f"{summary['survived_identical']}/{summary['trials']} trials ended identical to the reference "
        f"({summary['killed_and_survived_identical']}/{summary['killed_before_the_end']} of those killed before "
        f"the end); reference run {summary['reference_run_s']} s, wall {summary['wall_s']} s"
    )
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(summary, indent=2) + "\n")
    return 0 if summary["survived_identical"] == summary["trials"] else 1


if __name__ == "__main__":
    sys.exit(main())
