"""``hicropl demo``: base-to-novel prompt learning on ToyWorld, end to end, on a CPU in minutes.

Zero-shot CLIP, CoOp (when the baselines provide it) and HiCroPL (``paper`` and ``official``)
are trained with the library's engine on the tiny ToyWorld CLIP, each run in an ordinary run
folder (``OUTPUT/runs/base2novel/<method>/<dataset>/shots_<K>/seed_<S>``) that ``hicropl report``
reads: each demo method is a sweep (:mod:`hicropl.engine.sweep`) whose runs carry the method's label.
The Base / Novel / HM table (mean ± std over seeds) is the reports' base-to-novel table
(:mod:`hicropl.results`), printed and saved as ``OUTPUT/demo.md`` and ``OUTPUT/demo.json``.

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
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from hicropl.atomic import pid_is_alive
from hicropl.data.registry import register_dataset
from hicropl.data.toyworld.datasets import (
    TOYWORLD_DATASETS,
    ToyDataset,
    get_toy_dataset,
    prepare_dataset,
    register_toyworld_datasets,
)
from hicropl.errors import DataError, HicroplError
from hicropl.toyworld.demo_settings import ALL_METHODS as ALL_METHODS
from hicropl.toyworld.demo_settings import EXTRA_METHODS as EXTRA_METHODS
from hicropl.toyworld.demo_settings import DemoSettings as DemoSettings

if TYPE_CHECKING:  # the engine and the reports load only when the demo runs (``hicropl --help`` stays quick)
    from hicropl.engine.run_config import RunConfig
    from hicropl.engine.sweep import Job, SweepConfig
    from hicropl.results.tables import Table

DEMO_FILE = "demo.json"
TABLE_FILE = "demo.md"
LOCK_FILE = ".demo.lock"
RUNS = "runs"
DATA = "data"
SHIPPED_CLIP = "toyworld"  # --clip toyworld: the shipped, checksum-verified tiny CLIP (hicropl.clip.shipped)


class DemoError(HicroplError):
    """The demo cannot run in the given output folder (busy, foreign content, other settings)."""


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
            if isinstance(pid, int) and host == me["host"] and not pid_is_alive(pid):
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
        name = _method_name(key)
        if name in registered:
            chosen.append(key)
        else:
            notes.append(f"{key} is skipped: no method {name!r} is registered in this installation.")
            say(notes[-1])
    return chosen, notes


def _method_name(key: str) -> str:
    """The registered method a demo method runs (``hicropl-paper`` -> ``hicropl``)."""
    return key.split("-")[0]


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


def _run_content(key: str, settings: DemoSettings, frozen_text: str, text_layers: int) -> dict[str, Any]:
    """A demo run's config, less what its sweep sets (dataset, protocol, shots, seed, data root, CLIP)."""
    trained = key != "zeroshot"
    return {
        "method": _method_section(key, settings, frozen_text, text_layers),
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
        "label": key,
    }


def demo_sweep(
    key: str,
    settings: DemoSettings,
    frozen_text: Mapping[str, str],
    root: str | Path,
    clip: str | Path,
    runs: str | Path,
) -> SweepConfig:
    """The :class:`~hicropl.engine.sweep.SweepConfig` of demo method ``key`` (base-to-novel, run folders
    under ``runs``) on the datasets of ``frozen_text``, which maps each to HiCroPL's frozen-text source
    there. Zero-shot CLIP learns nothing, so it runs once, with the first seed."""
    from hicropl.engine.sweep import SweepConfig
    from hicropl.toyworld.pretrain import TOYWORLD_CLIP_CONFIG

    text_layers = int(TOYWORLD_CLIP_CONFIG["text_cfg"]["layers"])
    method = _method_name(key)
    contents = {dataset: _run_content(key, settings, source, text_layers) for dataset, source in frozen_text.items()}
    return SweepConfig(
        protocol="base2novel",
        methods=(method,),
        datasets=tuple(frozen_text),
        shots=(settings.shots,),
        seeds=settings.seeds if key != "zeroshot" else settings.seeds[:1],
        configs={f"{method}/{dataset}": content for dataset, content in contents.items()},
        root=str(runs),
        clip=str(clip),
        data_root=str(root),
    )


def demo_run_config(
    method: str,
    dataset: str,
    seed: int,
    root: str | Path,
    clip: str | Path,
    settings: DemoSettings | None = None,
    frozen_text: str = "llm_mean",
) -> RunConfig:
    """The engine's :class:`~hicropl.engine.RunConfig` of one demo run (base-to-novel on ``dataset``)."""
    from hicropl.engine.sweep import plan

    settings = replace(settings or DemoSettings(), seeds=(seed,))
    (job,) = plan(demo_sweep(method, settings, {dataset: frozen_text}, root, clip, RUNS))
    return job.config


def _jobs(
    settings: DemoSettings, methods: list[str], root: Path, clip: str, output: Path, say: Callable[[str], None]
) -> tuple[list[Job], dict[str, int], list[str]]:
    """The demo's sweep jobs (dataset by dataset, then method, then seed), each dataset's optimiser
    steps per epoch (for the progress bar), and notes for the table."""
    from hicropl.data.registry import build_dataset
    from hicropl.engine.sweep import plan

    notes: list[str] = []
    frozen_text: dict[str, str] = {}
    steps_per_epoch: dict[str, int] = {}
    for name in settings.datasets:
        splits = build_dataset(name, root, check_files=False)
        frozen_text[name] = _frozen_text_source(splits, say)
        if frozen_text[name] != "llm_mean" and not any("descriptions" in n for n in notes):
            notes.append("HiCroPL's frozen text: template (ToyWorld descriptions not readable by this installation)")
        images = settings.shots * math.ceil(len(splits.classnames) / 2)  # the base half of the classes
        steps_per_epoch[name] = images // settings.batch_size if images >= settings.batch_size else 1
    jobs: list[Job] = []
    for key in methods:
        sources = frozen_text
        if key == "hicropl-official":  # it has no frozen-text switch: it needs the descriptions
            sources = {name: source for name, source in frozen_text.items() if source == "llm_mean"}
            if len(sources) < len(frozen_text):
                note = "hicropl-official is skipped: it needs ToyWorld's class descriptions (no frozen-text switch)"
                notes.append(note)
                say(f"note: {note}")
        if sources:
            jobs += plan(demo_sweep(key, settings, sources, root, clip, output / RUNS))
    jobs.sort(key=lambda job: settings.datasets.index(job.config.data.dataset))
    return jobs, steps_per_epoch, notes


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
    use); ``clip`` defaults to the shipped, checksum-verified tiny CLIP (``toyworld``). After each run
    the demo prints the ``hicropl train`` command that reruns it by hand.
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

    from hicropl.atomic import atomic_write_text
    from hicropl.engine.run import train
    from hicropl.engine.sweep import pending
    from hicropl.results.record import harmonic_mean, read_run
    from hicropl.results.render import to_summary_markdown
    from hicropl.results.run_folder import RunFolder, read_json, write_json_atomic
    from hicropl.results.tables import Table, base_to_novel_table
    from hicropl.toyworld.train_command import train_command
    from hicropl.toyworld.weights import toyworld_weights_path

    if clip is None:
        toyworld_weights_path()  # a damaged installation fails here, before any data is generated
    weights = SHIPPED_CLIP if clip is None else str(Path(clip).expanduser())
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
    jobs, steps_per_epoch, plan_notes = _jobs(settings, methods, root, weights, folder, say)
    notes += plan_notes
    record: dict[str, Any] = {"settings": settings.to_dict(), "status": "running", "data_root": str(root)}
    write_json_atomic(folder / DEMO_FILE, record)

    steps = [max(job.config.train.epochs * steps_per_epoch[job.config.data.dataset], 1) for job in jobs]
    bar = tqdm(total=sum(steps), desc="demo", unit="step", disable=not progress, file=out, leave=False)
    _, finished = pending(jobs)
    run_hms: dict[tuple[str, str], list[float]] = {}  # per (method, dataset): each seed's HM
    for index, job in enumerate(jobs):
        config = job.config
        name = f"{config.label} on {config.data.dataset}, seed {config.seed}"
        t0 = time.perf_counter()
        if job in finished:
            result = read_json(RunFolder.at(job.output).result)
            how = "already finished"
        else:
            bar.set_postfix_str(f"{config.label} {config.data.dataset} s{config.seed}")
            result = train(
                config, job.output, quiet=True, progress=False, step_callbacks=[lambda _state: bar.update(1)]
            )
            how = f"{time.perf_counter() - t0:.0f} s"
        bar.n = sum(steps[: index + 1])
        bar.refresh()
        s = result["summary"]
        hm = harmonic_mean(s["base"], s["novel"])
        run_hms.setdefault((config.label, config.data.dataset), []).append(s["hm"])
        say(f"[{index + 1}/{len(jobs)}] {name}: base {s['base']:.1f}, novel {s['novel']:.1f}, HM {hm:.1f} ({how})")
        say(f"    rerun by hand: {train_command(config)}")
    bar.close()

    records = [read_run(job.output) for job in jobs]
    table = base_to_novel_table(records, methods, settings.datasets) or Table("base2novel", "", ["Base", "Novel", "HM"])
    rows = _rows(table, run_hms)
    text = to_summary_markdown(table)
    seconds = time.perf_counter() - start
    say("")
    say(f"ToyWorld base-to-novel, {settings.shots} shots, seeds {list(settings.seeds)} (accuracy %, mean ± std):")
    say(text)
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
            "runs": [str(job.output.relative_to(folder)) for job in jobs],
        }
    )
    write_json_atomic(folder / DEMO_FILE, record)
    atomic_write_text(folder / TABLE_FILE, text + "\n")
    return DemoResult(folder, settings, rows, text, seconds, notes, [job.output for job in jobs])


def _rows(table: Table, run_hms: Mapping[tuple[str, str], Sequence[float]]) -> list[dict[str, Any]]:
    """The table's rows as the demo reports them: base, novel and hm as (mean, std over seeds; NaN for
    averages), where a dataset's hm is the mean of its seeds' HMs, and hm_of_means, the table's HM column."""
    from hicropl.results.record import mean_std
    from hicropl.results.render import summary_rows

    nan = (math.nan, math.nan)
    rows = []
    for row in summary_rows(table):
        base, novel, hm = ((c.mean, c.std) if c is not None else nan for c in row["cells"])
        if row["dataset"] != "Average":
            hm = (mean_std(run_hms.get((row["method"], row["dataset"]), []))[0], hm[1])
        rows.append(
            {
                "method": row["method"],
                "dataset": row["dataset"],
                "n": row["n"],
                "base": base,
                "novel": novel,
                "hm": hm,
                "hm_of_means": row["cells"][2].mean if row["cells"][2] is not None else math.nan,
            }
        )
    return rows


def _jsonable(row: dict[str, Any]) -> dict[str, Any]:
    def num(x: float) -> float | None:
        return None if math.isnan(x) else round(x, 3)

    out = {k: v for k, v in row.items() if k not in ("base", "novel", "hm")}
    for key in ("base", "novel", "hm"):
        out[key] = {"mean": num(row[key][0]), "std": num(row[key][1])}
    out["hm_of_means"] = num(row["hm_of_means"])
    return out
