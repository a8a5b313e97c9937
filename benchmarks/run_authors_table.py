"""The per-method table of benchmarks/RESULTS.md: this library against each method's authors' code.

For every method, three rounds of ``bench_step.py --method NAME --skip-naive`` then
``bench_authors.py --method NAME`` (alternated, so that drifts of a shared machine hit both alike),
each in its own process; the JSONs go to ``--out``; the table (medians of the three runs) is printed
as Markdown. Run it on a quiet machine: about 90 minutes on 2 cores (ViT-B/16, 50 classes, batch 4).

    python benchmarks/run_authors_table.py --repos /tmp/authors --out benchmarks/results/authors_table

``--repos`` holds one checkout per repository, named as the repository (``CoOp``, ``KgCoOp``,
``Textual-based_Class-aware_prompt_tuning``, ``multimodal-prompt-learning``, ``PromptSRC``,
``Multi-Modal-Adapter``, ``CoPrompt``, ``HiCroPL``); ``--table-only`` prints the table from JSONs
already in ``--out``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from authors_specs import SPECS

HERE = Path(__file__).resolve().parent
TARGET_STEP = 0.6  # issue 20: the step at most 0.6x the authors', peak memory at most 0.7x
TARGET_MEMORY = 0.7


def _json(path: Path) -> dict[str, Any] | None:
    return json.loads(path.read_text()) if path.is_file() else None


def _run(command: list[str], log: Path) -> None:
    with log.open("a") as handle:
        handle.write(f"$ {' '.join(command)}\n")
        handle.flush()
        subprocess.run(command, stdout=handle, stderr=subprocess.STDOUT, check=False)


def measure(methods: list[str], repos: Path, out: Path, rounds: int, threads: int, first: int = 1) -> None:
    out.mkdir(parents=True, exist_ok=True)
    log = out / "run.log"
    for method in methods:
        repo = repos / SPECS[method].repository.split("/")[1]
        for i in range(first, rounds + 1):
            started = time.perf_counter()
            ours = [sys.executable, str(HERE / "bench_step.py"), "--method", method, "--skip-naive"]
            _run([*ours, "--threads", str(threads), "--json", str(out / f"{method}_ours_run{i}.json")], log)
            authors = [sys.executable, str(HERE / "bench_authors.py"), "--method", method, "--repo", str(repo)]
            _run([*authors, "--threads", str(threads), "--json", str(out / f"{method}_authors_run{i}.json")], log)
            print(f"{method} round {i}: {time.perf_counter() - started:.0f} s", flush=True)


def _median(runs: list[dict[str, Any]], *keys: str) -> float:
    values = []
    for run in runs:
        value: Any = run
        for key in keys:
            value = value[key]
        values.append(float(value))
    return statistics.median(values)


def table(methods: list[str], out: Path, rounds: int) -> str:
    lines = [
        "| method | step ours (s) | step authors (s) | step ratio | peak RSS ours (MiB) | authors (MiB) | memory ratio "
        "| eval img/s ours (cached) | authors | targets |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for method in methods:
        ours = [r for i in range(1, rounds + 1) if (r := _json(out / f"{method}_ours_run{i}.json"))]
        theirs = [r for i in range(1, rounds + 1) if (r := _json(out / f"{method}_authors_run{i}.json"))]
        if not ours or not theirs:
            lines.append(f"| {method} | {len(ours)} run(s) | {len(theirs)} run(s) | | | | | | | not measured |")
            continue
        step = _median(ours, "train_step_s", "median"), _median(theirs, "train_step_s", "median")
        memory = _median(ours, "peak_rss_mib"), _median(theirs, "peak_rss_mib")
        evals = _median(ours, "eval_images_per_s_cached"), _median(theirs, "eval_images_per_s", "median")
        met = step[0] / step[1] <= TARGET_STEP and memory[0] / memory[1] <= TARGET_MEMORY
        lines.append(
            f"| {method} | {step[0]:.2f} | {step[1]:.2f} | {step[0] / step[1]:.2f}x | {memory[0]:.0f} "
            f"| {memory[1]:.0f} | {memory[0] / memory[1]:.2f}x | {evals[0]:.1f} | {evals[1]:.1f} "
            f"| {'met' if met else 'missed'} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repos", type=Path, help="folder of the authors' checkouts (see above)")
    parser.add_argument("--out", type=Path, default=HERE / "results" / "authors_table")
    parser.add_argument("--methods", nargs="*", default=list(SPECS), choices=list(SPECS))
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--table-only", action="store_true")
    parser.add_argument("--first-round", type=int, default=1, help="add rounds FIRST..ROUNDS to JSONs already in --out")
    args = parser.parse_args()
    if not args.table_only:
        if args.repos is None:
            parser.error("--repos is needed unless --table-only")
        started = time.perf_counter()
        measure(args.methods, args.repos, args.out, args.rounds, args.threads, args.first_round)
        print(f"measured in {time.perf_counter() - started:.0f} s")
    print(table(args.methods, args.out, args.rounds))


if __name__ == "__main__":
    main()
