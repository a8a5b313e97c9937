"""The paper's tables from run records: mean ± std over seeds, missing cells kept as None.

* base-to-novel: Base, Novel, HM per dataset, and their average; as in the paper the average's HM
  is the harmonic mean of the average Base and Novel accuracies (not the mean of HMs), and a
  dataset's HM is the harmonic mean of its mean Base and mean Novel;
* few-shot: accuracy per number of shots K, per dataset and averaged;
* cross-dataset and domain generalisation: the source dataset, each target, the targets' average.

Averages over datasets appear only where there are at least two datasets. Runs of different
experiments (see :mod:`hicropl.results.run_identity`) are different rows.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from hicropl.data.protocols import IMAGENET_VARIANTS, RECOGNITION_DATASETS
from hicropl.results.record import RunRecord, evaluation_name, harmonic_mean, mean_std
from hicropl.results.run_identity import latest_per_seed, name_rows

TRANSFER_PROTOCOLS = ("cross_dataset", "domain_generalization")


@dataclass
class Cell:
    mean: float
    std: float
    n: int

    def to_dict(self) -> dict[str, float | int]:
        return {"mean": self.mean, "std": self.std, "n": self.n}


def cell(values: Sequence[float]) -> Cell | None:
    mean, std, n = mean_std(values)
    return Cell(mean, std, n) if n else None


@dataclass(frozen=True)
class PaperComparison:
    """A published value beside one of our cells: ``difference`` is ours minus the paper's; ``mark`` is
    ``*`` where it exceeds two standard deviations over our seeds, ``?`` where one seed cannot tell."""

    published: float
    difference: float
    mark: str = ""


@dataclass
class Row:
    name: str
    cells: list[Cell | None]
    group: str = ""  # e.g. the dataset of a block of method rows
    average: bool = False  # a row of the average over datasets
    paper: list[PaperComparison | None] = field(default_factory=list)  # per column, with --compare paper
    method: str = ""  # the registered method of the row's runs, where the plots need it (few-shot)


@dataclass
class Table:
    key: str
    title: str
    columns: list[str]
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _dataset_order(names: Iterable[str]) -> list[str]:
    known = list(RECOGNITION_DATASETS) + list(IMAGENET_VARIANTS)
    names = set(names)
    return [n for n in known if n in names] + sorted(n for n in names if n not in known)


def _in_order(names: Iterable[str], first: Sequence[str], rest: Callable[[Iterable[str]], list[str]]) -> list[str]:
    """``names`` in the order of ``first``, then the others ordered by ``rest``."""
    names = set(names)
    return [n for n in first if n in names] + rest(n for n in names if n not in first)


def base_to_novel_table(
    runs: Sequence[RunRecord], methods: Sequence[str] = (), datasets: Sequence[str] = ()
) -> Table | None:
    """``methods`` and ``datasets`` put rows first, in that order; by default methods are sorted and
    datasets in the paper's order."""
    runs = [r for r in runs if r.protocol == "base2novel"]
    if not runs:
        return None
    methods = _in_order((r.label for r in runs), methods, sorted)
    datasets = _in_order((r.dataset for r in runs), datasets, _dataset_order)
    table = Table(
        "base2novel",
        "Base-to-novel generalisation (accuracy %, mean ± std over seeds)",
        ["Base", "Novel", "HM"],
    )
    per: dict[tuple[str, str], tuple[list[float], list[float]]] = defaultdict(lambda: ([], []))
    for run in runs:
        base = run.scores.get(evaluation_name(run.dataset, "base", "test"))
        novel = run.scores.get(evaluation_name(run.dataset, "new", "test"))
        if base is not None and novel is not None:
            per[(run.label, run.dataset)][0].append(base)
            per[(run.label, run.dataset)][1].append(novel)
    average_rows = []
    blocks = []
    for dataset in datasets:
        for method in methods:
            bases, novels = per.get((method, dataset), ([], []))
            blocks.append(Row(method, _b2n_cells(bases, novels), group=dataset))
    for method in methods if len(datasets) > 1 else ():
        present = [d for d in datasets if (method, d) in per]
        mean_b = [sum(per[(method, d)][0]) / len(per[(method, d)][0]) for d in present]
        mean_n = [sum(per[(method, d)][1]) / len(per[(method, d)][1]) for d in present]
        cells: list[Cell | None] = [None, None, None]
        if present:
            b, _, _ = mean_std(mean_b)
            n, _, _ = mean_std(mean_n)
            cells = [
                Cell(b, math.nan, len(present)),
                Cell(n, math.nan, len(present)),
                Cell(harmonic_mean(b, n), math.nan, len(present)),
            ]
        name = method if len(present) == len(datasets) else f"{method} †"
        average_rows.append(Row(name, cells, group=_average_label(len(datasets)), average=True))
    table.rows = average_rows + blocks
    if average_rows:
        table.notes.append(
            "Average: mean over datasets of the per-dataset means (no std); HM of the average Base and Novel."
        )
    table.notes.append(
        "HM of a dataset: harmonic mean of its mean Base and mean Novel; its ± is the std of per-seed HMs."
    )
    if any(r.name.endswith("†") for r in average_rows):
        table.notes.append("†: average over the datasets this method has results for (some are missing).")
    return table


def _b2n_cells(bases: list[float], novels: list[float]) -> list[Cell | None]:
    if not bases:
        return [None, None, None]
    base, novel = cell(bases), cell(novels)
    assert base is not None and novel is not None
    hms = [harmonic_mean(b, n) for b, n in zip(bases, novels, strict=True)]
    _, hm_std, _ = mean_std(hms)
    return [base, novel, Cell(harmonic_mean(base.mean, novel.mean), hm_std, base.n)]


def _methods_of(runs: Iterable[RunRecord]) -> dict[str, set[str]]:
    """Row name -> the registered methods of its runs."""
    found: dict[str, set[str]] = defaultdict(set)
    for run in runs:
        found[run.label].add(run.method)
    return found


def few_shot_table(runs: Sequence[RunRecord]) -> Table | None:
    runs = [r for r in runs if r.protocol == "fewshot"]
    if not runs:
        return None
    shots = sorted({r.shots for r in runs})
    methods = sorted({r.label for r in runs})
    datasets = _dataset_order(r.dataset for r in runs)
    values: dict[tuple[str, str, int], list[float]] = defaultdict(list)
    for run in runs:
        score = run.scores.get(evaluation_name(run.dataset, "all", "test"))
        if score is not None:
            values[(run.label, run.dataset, run.shots)].append(score)
    table = Table("fewshot", "Few-shot classification (accuracy %, mean ± std over seeds)", [f"K={k}" for k in shots])
    rows = []
    for method in methods if len(datasets) > 1 else ():
        cells: list[Cell | None] = []
        complete = True
        for k in shots:
            means = [sum(v) / len(v) for d in datasets if (v := values.get((method, d, k)))]
            complete &= len(means) == len(datasets)
            cells.append(Cell(sum(means) / len(means), math.nan, len(means)) if means else None)
        rows.append(
            Row(method if complete else f"{method} †", cells, group=_average_label(len(datasets)), average=True)
        )
    method_of = {label: next(iter(names)) for label, names in _methods_of(runs).items() if len(names) == 1}
    for row in rows:
        row.method = method_of.get(row.name.removesuffix(" †"), "")
    for dataset in datasets:
        for method in methods:
            cells = [cell(values.get((method, dataset, k), [])) for k in shots]
            rows.append(Row(method, cells, group=dataset, method=method_of.get(method, "")))
    table.rows = rows
    if len(datasets) > 1:
        table.notes.append("Average: mean over datasets of the per-dataset means.")
    if any(r.name.endswith("†") for r in rows):
        table.notes.append("†: some datasets are missing for this method and K.")
    return table


def transfer_tables(runs: Sequence[RunRecord]) -> list[Table]:
    """Cross-dataset and domain-generalisation tables, one of each per source dataset."""
    runs = [r for r in runs if r.protocol in TRANSFER_PROTOCOLS]
    tables = []
    for source in _dataset_order(r.dataset for r in runs):
        from_source = [r for r in runs if r.dataset == source]
        evaluated = {name for r in from_source for name in r.scores}
        cross = [d for d in RECOGNITION_DATASETS if d != source]
        cross += sorted(
            n
            for n in evaluated
            if n not in cross and n not in IMAGENET_VARIANTS and n != source and "(" not in n and "[" not in n
        )
        groups = [("cross_dataset", "Cross-dataset transfer", cross)]
        if evaluated & set(IMAGENET_VARIANTS):
            groups.append(("domain_generalization", "Domain generalisation", list(IMAGENET_VARIANTS)))
        for key, title, targets in groups:
            tables.append(
                _transfer_table(
                    f"{key}:{source}",
                    f"{title} from {source} (accuracy %, mean ± std)",
                    source,
                    targets,
                    from_source,
                )
            )
    return tables


def _transfer_table(key: str, title: str, source: str, targets: list[str], runs: Sequence[RunRecord]) -> Table:
    table = Table(key, title, [f"{source} (source)", *targets, "Average"])
    for method in sorted({r.label for r in runs}):
        mine = [r for r in runs if r.label == method]
        cells = [cell([r.scores[source] for r in mine if source in r.scores])]
        target_cells = [cell([r.scores[t] for r in mine if t in r.scores]) for t in targets]
        present = [c.mean for c in target_cells if c is not None]
        average = Cell(sum(present) / len(present), math.nan, len(present)) if present else None
        name = method if len(present) == len(targets) else f"{method} †"
        table.rows.append(Row(name, [*cells, *target_cells, average]))
    table.notes.append("Average: mean over the targets of the per-target means.")
    if any(r.name.endswith("†") for r in table.rows):
        table.notes.append("†: the average covers only the targets with results.")
    return table


def build_tables(runs: Sequence[RunRecord], problems: list[str] | None = None) -> list[Table]:
    problems = problems if problems is not None else []
    runs = latest_per_seed(runs, problems)
    name_rows(runs)
    tables = [t for t in (base_to_novel_table(runs), few_shot_table(runs)) if t is not None]
    return tables + transfer_tables(runs)


def _average_label(count: int) -> str:
    return f"Average over {count} dataset{'s' if count != 1 else ''}"
