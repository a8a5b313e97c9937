"""``hicropl demo``: base-to-novel prompt learning on ToyWorld, end to end, on a CPU in minutes.

Zero-shot CLIP, CoOp (when the baselines provide it) and HiCroPL (``paper`` and ``official``)
are trained with the library's engine on the tiny ToyWorld CLIP, each run in an ordinary run
folder (``OUTPUT/runs/base2novel/<method>/<dataset>/shots_<K>/seed_<S>``) that ``hicropl report``
reads. The Base / Novel / HM table (mean ± std over seeds) is printed and saved as
``OUTPUT/demo.md`` and ``OUTPUT/demo.json``.

The output folder:

* missing: it is created;
* empty: it is used;
* holding an unfinished demo with the same settings: the demo resumes (finished runs are kept,
  an interrupted run continues from its checkpoint);
* holding a demo with other settings, or anything else: refused with a message (``overwrite=True``
  replaces an old demo's runs; files the demo did not write are never deleted);
* in use by another running demo (``.demo.lock``): refused with that demo's process id.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import shutil
import socket
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TextIO

from hicropl.data.registry import register_dataset
from hicropl.data.toyworld.datasets import (
    TOYWORLD_DATASETS,
    ToyDataset,
    get_toy_dataset,
    prepare_dataset,
    register_toyworld_datasets,
)
from hicropl.errors import ConfigError, DataError, HicroplError

DEMO_FILE = "demo.json"
TABLE_FILE = "demo.md"
LOCK_FILE = ".demo.lock"
RUNS = "runs"
DATA = "data"
ALL_METHODS: tuple[str, ...] = ("zeroshot", "coop", "hicropl-paper", "hicropl-official")
# Not run by default: HiCroPL (paper) without its consistency loss, an unregularised comparison that
# shows how Novel accuracy suffers from overfitting (its runs carry the label hicropl-nocons).
EXTRA_METHODS: tuple[str, ...] = ("hicropl-nocons",)


class DemoError(HicroplError):
    """The demo cannot run in the given output folder (busy, foreign content, other settings)."""


@dataclass(frozen=True)
class DemoSettings:
    """What the demo runs; a folder is resumed only with the same settings."""

    shots: int = 16
    seeds: tuple[int, ...] = (1,)
    datasets: tuple[str, ...] = tuple(d.name for d in TOYWORLD_DATASETS)
    methods: tuple[str, ...] = ALL_METHODS
    epochs: int = 10
    batch_size: int = 32
    lr: float = 0.0025
    n_ctx: int = 16  # prompt length of HiCroPL and CoOp, as in configs/ (the tiny CLIP has a 32-token context)
    ctx_init: str = ""  # random initialisation, as in configs/ ("a photo of a" with n_ctx=4 also works)
    device: str = "auto"

    def __post_init__(self) -> None:
        if self.shots < 1:
            raise ConfigError(f"shots must be >= 1, got {self.shots}")
        if not self.seeds:
            raise ConfigError("give at least one seed")
        if self.epochs < 1:
            raise ConfigError(f"epochs must be >= 1, got {self.epochs}")
        unknown = [m for m in self.methods if m not in ALL_METHODS + EXTRA_METHODS]
        if unknown:
            raise ConfigError(f"unknown demo methods {unknown}; choose from {', '.join(ALL_METHODS + EXTRA_METHODS)}")

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["seeds"] = list(self.seeds)
        data["datasets"] = list(self.datasets)
        data["methods"] = list(self.methods)
        return data


@dataclass
class RunPlan:
    method: str  # one of ALL_METHODS
    dataset: str
    seed: int
    config: Any  # hicropl.engine.RunConfig
    folder: Path
    steps: int  # optimiser steps it will take (for the progress bar)


@dataclass
class DemoResult:
    output: Path
    settings: DemoSettings
    rows: list[dict[str, Any]]  # per method and dataset: base/novel/hm mean and std, n
    table: str
    seconds: float
    notes: list[str] = field(default_factory=list)
    runs: list[Path] = field(default_factory=list)


# --- the output folder ------------------------------------------------------------------------------
def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@contextlib.contextmanager
def _lock(folder: Path, say: Callable[[str], None]) -> Iterator[None]:
    path = folder / LOCK_FILE
    me = {"pid": os.getpid(), "host": socket.gethostname()}
    for _ in range(2):
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            try:
                owner = json.loads(path.read_text("utf-8"))
            except (OSError, ValueError):
                owner = {}
            pid, host = owner.get("pid"), owner.get("host")
            if isinstance(pid, int) and host == me["host"] and not _pid_alive(pid):
                say(f"Removing the stale lock of demo process {pid}, which is no longer running.")
                path.unlink(missing_ok=True)
                continue
            raise DemoError(
                f"{folder} is busy: another demo (process {pid} on {host}) is running in it. Wait for it to "
                f"finish, or choose another output folder. If no demo is running there, delete {path}."
            ) from None
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(me, handle)
        break
    try:
        yield
    finally:
        path.unlink(missing_ok=True)


def _check_output(folder: Path, say: Callable[[str], None]) -> None:
    """Before locking: create a missing folder; refuse a file or a folder with someone else's content."""
    if folder.exists() and not folder.is_dir():
        raise DemoError(f"{folder} is a file; pass a folder for the demo's runs.")
    if not folder.exists():
        say(f"Creating the output folder {folder}.")
        folder.mkdir(parents=True)
        return
    entries = {p.name for p in folder.iterdir()} - {LOCK_FILE}
    if entries and not (folder / DEMO_FILE).is_file():
        raise DemoError(
            f"{folder} is not empty ({', '.join(sorted(entries)[:5])}) and holds no hicropl demo ({DEMO_FILE}); "
            "choose a new or empty output folder so that nothing of yours is overwritten."
        )


def _prepare_output(folder: Path, settings: DemoSettings, overwrite: bool, say: Callable[[str], None]) -> None:
    """Under the lock: start afresh, resume a demo with the same settings, or refuse other settings."""
    record_path = folder / DEMO_FILE
    if not record_path.is_file():
        return
    try:
        record = json.loads(record_path.read_text("utf-8"))
    except (OSError, ValueError) as exc:
        raise DemoError(f"{record_path} is unreadable ({exc}); choose another output folder.") from exc
    if overwrite:
        say(f"Replacing the demo in {folder} (overwrite).")
        shutil.rmtree(folder / RUNS, ignore_errors=True)
        for name in (DEMO_FILE, TABLE_FILE):
            (folder / name).unlink(missing_ok=True)
        return
    if record.get("settings") != settings.to_dict():
        raise DemoError(
            f"{folder} holds a demo with other settings ({_settings_diff(record.get('settings') or {}, settings)}); "
            "rerun with those settings to resume or show it, choose another output folder, or overwrite it."
        )
    state = "finished" if record.get("status") == "finished" else "unfinished"
    say(f"{folder} holds an {state} demo with these settings: reusing its finished runs, resuming the rest.")


def _settings_diff(saved: dict[str, Any], settings: DemoSettings) -> str:
    now = settings.to_dict()
    changed = [f"{k}: {saved.get(k)!r} there, {now[k]!r} now" for k in now if saved.get(k) != now[k]]
    return "; ".join(changed[:4]) or "unknown"


# --- planning ---------------------------------------------------------------------------------------
def _available_methods(settings: DemoSettings, say: Callable[[str], None]) -> tuple[list[str], list[str]]:
    from hicropl.methods.base import list_methods

    registered = set(list_methods())
    chosen, notes = [], []
    for key in settings.methods:
        name = key.split("-")[0]
        if name in registered:
            chosen.append(key)
        else:
            notes.append(f"{key} is skipped: no method {name!r} is registered in this installation.")
            say(notes[-1])
    return chosen, notes


def _method_section(key: str, settings: DemoSettings, frozen_text: str, text_layers: int) -> dict[str, Any]:
    from hicropl.methods.base import config_fields, get_method_class

    if key == "zeroshot":
        return {"name": "zeroshot", "prompts": "dataset"}
    if key.startswith("hicropl"):
        section: dict[str, Any] = {
            "name": "hicropl",
            "variant": "official" if key == "hicropl-official" else "paper",
            "n_ctx": settings.n_ctx,
            "ctx_init": settings.ctx_init,
            "depth": text_layers,
            "boundary": text_layers // 2,
        }
        if frozen_text != "llm_mean":
            section["frozen_text"] = frozen_text
        if key == "hicropl-nocons":
            section["use_consistency"] = False
        return section
    fields = set(config_fields(get_method_class(key).config_class))
    section = {"name": key}
    if "n_ctx" in fields:
        section["n_ctx"] = settings.n_ctx
    if "ctx_init" in fields:
        section["ctx_init"] = settings.ctx_init
    return section


def _frozen_text_source(splits: Any, say: Callable[[str], None]) -> str:
    """``llm_mean`` when the data layer serves ToyWorld's per-class descriptions, else ``template``."""
    from hicropl.data import resources

    try:
        resources.descriptions_for(splits.classnames[:1], splits.description_file)
        return "llm_mean"
    except (DataError, OSError, ValueError):
        say(
            "note: this installation cannot read ToyWorld's per-class descriptions yet, so HiCroPL's frozen "
            "text uses the template 'a photo of a {}.' instead of the description ensemble."
        )
        return "template"


def demo_run_config(
    method: str,
    dataset: str,
    seed: int,
    root: str | Path,
    clip: str | Path,
    settings: DemoSettings | None = None,
    frozen_text: str = "llm_mean",
) -> Any:
    """The engine's :class:`~hicropl.engine.RunConfig` of one demo run (base-to-novel on ``dataset``)."""
    from hicropl.engine.run_config import build_run_config
    from hicropl.toyworld.pretrain import TOYWORLD_CLIP_CONFIG

    settings = settings or DemoSettings()
    trained = method != "zeroshot"
    text_layers = int(TOYWORLD_CLIP_CONFIG["text_cfg"]["layers"])
    data = {
        "method": _method_section(method, settings, frozen_text, text_layers),
        "data": {"dataset": dataset, "root": str(root), "protocol": "base2novel", "shots": settings.shots},
        "train": {
            "epochs": settings.epochs if trained else 0,
            "batch_size": settings.batch_size,
            "eval_batch_size": 500,
            "selection": "best_val",
            "precision": "fp32",
            "num_workers": 0,
            "device": settings.device,
        },
        "optim": {"name": "adam", "lr": settings.lr, "eps": 1e-3, "weight_decay": 5e-4},
        "sched": {"name": "cosine", "warmup_epochs": 1, "warmup_type": "constant", "warmup_lr": 1e-5},
        "seed": seed,
        "clip": str(clip),
        "label": method,
    }
    return build_run_config(data)


def _plan(
    settings: DemoSettings, methods: list[str], root: Path, clip: Path, output: Path, say: Callable[[str], None]
) -> tuple[list[RunPlan], list[str]]:
    from hicropl.data.registry import build_dataset

    notes: list[str] = []
    plans: list[RunPlan] = []
    for name in settings.datasets:
        splits = build_dataset(name, root, check_files=False)
        frozen_text = _frozen_text_source(splits, say)
        if frozen_text != "llm_mean" and not any("descriptions" in n for n in notes):
            notes.append("HiCroPL's frozen text: template (ToyWorld descriptions not readable by this installation)")
        base_classes = math.ceil(len(splits.classnames) / 2)
        images = settings.shots * base_classes
        steps_per_epoch = images // settings.batch_size if images >= settings.batch_size else 1
        for key in methods:
            if key == "hicropl-official" and frozen_text != "llm_mean":
                note = "hicropl-official is skipped: it needs ToyWorld's class descriptions (no frozen-text switch)"
                if note not in notes:
                    notes.append(note)
                    say(f"note: {note}")
                continue
            trained = key != "zeroshot"
            for seed in settings.seeds if trained else settings.seeds[:1]:
                config = demo_run_config(key, name, seed, root, clip, settings, frozen_text)
                folder = output / RUNS / "base2novel" / key / name / f"shots_{settings.shots}" / f"seed_{seed}"
                steps = settings.epochs * steps_per_epoch if trained else 0
                plans.append(RunPlan(key, name, seed, config, folder, steps))
    return plans, notes


# --- results ----------------------------------------------------------------------------------------
def _mean_std(values: Sequence[float]) -> tuple[float, float]:
    if not values:
        return math.nan, math.nan
    mean = sum(values) / len(values)
    if len(values) == 1:
        return mean, 0.0
    return mean, math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1))


def _rows(plans: list[RunPlan], results: dict[int, dict[str, Any]]) -> list[dict[str, Any]]:
    from hicropl.results.record import harmonic_mean

    groups: dict[tuple[str, str], list[dict[str, float]]] = {}
    for index, plan in enumerate(plans):
        groups.setdefault((plan.method, plan.dataset), []).append(results[index]["summary"])
    rows = []
    methods = list(dict.fromkeys(p.method for p in plans))
    datasets = list(dict.fromkeys(p.dataset for p in plans))
    for method in methods:
        per_dataset = []
        for dataset in datasets:
            summaries = groups.get((method, dataset), [])
            base = _mean_std([s["base"] for s in summaries])
            novel = _mean_std([s["novel"] for s in summaries])
            hm = _mean_std([s["hm"] for s in summaries])
            row = {"method": method, "dataset": dataset, "n": len(summaries), "base": base, "novel": novel, "hm": hm}
            # As in the paper, a dataset's HM column is the harmonic mean of its mean Base and Novel.
            row["hm_of_means"] = harmonic_mean(base[0], novel[0])
            per_dataset.append(row)
            rows.append(row)
        if len(datasets) > 1:
            base_mean = sum(r["base"][0] for r in per_dataset) / len(per_dataset)
            novel_mean = sum(r["novel"][0] for r in per_dataset) / len(per_dataset)
            rows.append(
                {
                    "method": method,
                    "dataset": "Average",
                    "n": min(r["n"] for r in per_dataset),
                    "base": (base_mean, math.nan),
                    "novel": (novel_mean, math.nan),
                    "hm": (harmonic_mean(base_mean, novel_mean), math.nan),
                    "hm_of_means": harmonic_mean(base_mean, novel_mean),
                }
            )
    return rows


def format_table(rows: list[dict[str, Any]]) -> str:
    """A markdown table: Base / Novel / HM per method and dataset (mean ± std over seeds)."""

    def cell(value: tuple[float, float]) -> str:
        mean, std = value
        return f"{mean:.1f}" if math.isnan(std) or std == 0 else f"{mean:.1f} ± {std:.1f}"

    lines = ["| Dataset | Method | Seeds | Base | Novel | HM |", "|---|---|---|---|---|---|"]
    for dataset in dict.fromkeys(r["dataset"] for r in rows):
        for row in (r for r in rows if r["dataset"] == dataset):
            hm = f"{row['hm_of_means']:.1f}"
            lines.append(
                f"| {dataset} | {row['method']} | {row['n']} | {cell(row['base'])} | {cell(row['novel'])} | {hm} |"
            )
    return "\n".join(lines)


# --- the demo ---------------------------------------------------------------------------------------
def run_demo(
    output_dir: str | Path,
    shots: int = DemoSettings.shots,
    seeds: Sequence[int] = DemoSettings.seeds,
    *,
    datasets: Sequence[str | ToyDataset] | None = None,
    methods: Sequence[str] | None = None,
    epochs: int = DemoSettings.epochs,
    n_ctx: int = DemoSettings.n_ctx,
    ctx_init: str = DemoSettings.ctx_init,
    lr: float = DemoSettings.lr,
    data_root: str | Path | None = None,
    clip: str | Path | None = None,
    device: str = "auto",
    overwrite: bool = False,
    progress: bool = True,
    stream: TextIO | None = None,
) -> DemoResult:
    """Run the ToyWorld base-to-novel demo into ``output_dir`` and return its table.

    ``data_root`` defaults to ``output_dir/data`` (the ToyWorld datasets are generated there on first
    use); ``clip`` defaults to the shipped, checksum-verified tiny CLIP.
    """
    from tqdm.auto import tqdm

    out = stream if stream is not None else sys.stdout

    def say(text: str) -> None:
        tqdm.write(text, file=out)

    chosen = [d if isinstance(d, ToyDataset) else get_toy_dataset(d) for d in (datasets or DemoSettings.datasets)]
    settings = DemoSettings(
        shots=shots,
        seeds=tuple(int(s) for s in seeds),
        datasets=tuple(d.name for d in chosen),
        methods=tuple(methods or ALL_METHODS),
        epochs=epochs,
        lr=lr,
        n_ctx=n_ctx,
        ctx_init=ctx_init,
        device=device,
    )
    start = time.perf_counter()
    folder = Path(output_dir).expanduser()
    _check_output(folder, say)
    with _lock(folder, say):
        _prepare_output(folder, settings, overwrite, say)
        return _run_locked(folder, settings, chosen, data_root, clip, progress, say, out, start)


def _run_locked(
    folder: Path,
    settings: DemoSettings,
    datasets: list[ToyDataset],
    data_root: str | Path | None,
    clip: str | Path | None,
    progress: bool,
    say: Callable[[str], None],
    out: TextIO,
    start: float,
) -> DemoResult:
    from tqdm.auto import tqdm

    from hicropl.engine.run import train
    from hicropl.results.record import harmonic_mean
    from hicropl.results.run_folder import RunFolder, read_json, write_json_atomic, write_text_atomic
    from hicropl.toyworld.weights import toyworld_weights_path

    weights = toyworld_weights_path() if clip is None else Path(clip).expanduser()
    register_toyworld_datasets()
    root = Path(data_root).expanduser() if data_root is not None else folder / DATA
    root.mkdir(parents=True, exist_ok=True)
    for dataset in datasets:
        if dataset not in TOYWORLD_DATASETS:  # a custom ToyDataset (e.g. a smaller copy): register it too
            register_dataset(dataset.spec, overwrite=True)
        t0 = time.perf_counter()
        prepare_dataset(dataset, root)
        if time.perf_counter() - t0 > 0.5:
            say(f"Generated {dataset.name} in {root / dataset.folder} ({time.perf_counter() - t0:.0f} s).")
    methods, notes = _available_methods(settings, say)
    plans, plan_notes = _plan(settings, methods, root, weights, folder, say)
    notes += plan_notes
    record: dict[str, Any] = {"settings": settings.to_dict(), "status": "running", "data_root": str(root)}
    write_json_atomic(folder / DEMO_FILE, record)

    total = sum(max(p.steps, 1) for p in plans)
    bar = tqdm(total=total, desc="demo", unit="step", disable=not progress, file=out, leave=False)
    results: dict[int, dict[str, Any]] = {}
    done = 0
    for index, plan in enumerate(plans):
        label = f"[{index + 1}/{len(plans)}] {plan.method} on {plan.dataset}, seed {plan.seed}"
        run_folder = RunFolder.at(plan.folder)
        t0 = time.perf_counter()
        if run_folder.is_finished():
            result = read_json(run_folder.result)
            how = "already finished"
        else:
            bar.set_postfix_str(f"{plan.method} {plan.dataset} s{plan.seed}")
            result = train(
                plan.config,
                plan.folder,
                quiet=True,
                progress=False,
                step_callbacks=[lambda _state: bar.update(1)],
            )
            how = f"{time.perf_counter() - t0:.0f} s"
        done += max(plan.steps, 1)
        bar.n = done
        bar.refresh()
        results[index] = result
        s = result["summary"]
        hm = harmonic_mean(s["base"], s["novel"])
        say(f"{label}: base {s['base']:.1f}, novel {s['novel']:.1f}, HM {hm:.1f} ({how})")
    bar.close()

    rows = _rows(plans, results)
    table = format_table(rows)
    seconds = time.perf_counter() - start
    say("")
    say(f"ToyWorld base-to-novel, {settings.shots} shots, seeds {list(settings.seeds)} (accuracy %, mean ± std):")
    say(table)
    for note in notes:
        say(f"note: {note}")
    say(f"\nRun folders: {folder / RUNS}  (hicropl report {folder / RUNS})")
    say(f"Finished in {seconds:.0f} s.")
    record.update(
        {
            "status": "finished",
            "seconds": round(seconds, 1),
            "rows": [_jsonable(r) for r in rows],
            "notes": notes,
            "runs": [str(p.folder.relative_to(folder)) for p in plans],
        }
    )
    write_json_atomic(folder / DEMO_FILE, record)
    write_text_atomic(folder / TABLE_FILE, table + "\n")
    return DemoResult(folder, settings, rows, table, seconds, notes, [p.folder for p in plans])


def _jsonable(row: dict[str, Any]) -> dict[str, Any]:
    def num(x: float) -> float | None:
        return None if math.isnan(x) else round(x, 3)

    out = {k: v for k, v in row.items() if k not in ("base", "novel", "hm")}
    for key in ("base", "novel", "hm"):
        out[key] = {"mean": num(row[key][0]), "std": num(row[key][1])}
    out["hm_of_means"] = num(row["hm_of_means"])
    return out
