"""The numbers the HiCroPL paper (ICCV 2025) publishes, shipped as data, and how our runs map onto them.

``resources/paper_results.csv`` holds one published cell per row, typed in from the paper's text:

* ``table``: the paper's table number as text ("1", "2", ..., "14");
* ``method``: the paper's row name ("CLIP", "CoOp", "HiCroPL", or an ablation row's label);
* ``dataset``: the paper's column, in this library's dataset names (``ImageNet``, ``EuroSAT``, ...),
  or ``Average`` for a stated average;
* ``metric``: ``base``, ``novel``, ``hm`` (Table 1 and the base-to-novel ablations) or ``accuracy``;
* ``shots``: K for few-shot cells, 16 for base-to-novel cells, empty where the protocol fixes none;
* ``value``: the published percentage, empty where the extracted text cannot be read with certainty;
* ``status``: ``ok`` or ``unreadable`` (then ``note`` quotes what the text says).

The tables it holds (Table 8, compute cost, is left out: its cells are not accuracies):

* "1": base-to-novel, 10 methods x 12 panels (``Average`` and the 11 datasets) x base/novel/hm, shots 16;
* "2": cross-dataset, 6 methods x (``ImageNet``, the source, 10 targets, ``Average``) x accuracy;
* "3": domain generalisation, 6 methods x (``ImageNet``, ``ImageNetV2``, ``ImageNetSketch``,
  ``ImageNetA``, ``ImageNetR``, ``Average``) x accuracy. Tables 2 and 3 train on 16 shots of
  ImageNet, but a cell is per evaluation target, so their ``shots`` is empty;
* "4"-"7", "11"-"13": the ablations, each row's base/novel/hm averaged over the 11 datasets, so
  ``dataset`` is ``Average`` and ``shots`` 16; ``method`` is a short label of the row ("I->T | T->I",
  "k=4", "w/o BKF", ...) and ``note`` says what the row is;
* "14": few-shot, 6 methods x 12 panels x K in (1, 2, 4, 8, 16), accuracy.

The paper's column names map to ours (Flowers102 -> ``OxfordFlowers``, DTD -> ``DescribableTextures``,
Aircraft -> ``FGVCAircraft``, -V2/-S/-A/-R -> ``ImageNetV2``/``ImageNetSketch``/``ImageNetA``/``ImageNetR``);
row names mangled by the text extraction are normalised and the note says so. docs/published-numbers.md
lists the unreadable cells and the stated averages that do not follow from their cells.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import cache
from importlib import resources

PAPER_FILE = "paper_results.csv"
METRICS = ("base", "novel", "hm", "accuracy")

# Registered method (and variant, where it matters) -> the paper's row name in Tables 1-3 and 14.
PAPER_ROW_OF_METHOD: dict[str, str] = {
    "zeroshot": "CLIP",
    "linear_probe": "Linear probe CLIP",
    "coop": "CoOp",
    "cocoop": "CoCoOp",
    "kgcoop": "KgCoOp",
    "maple": "MaPLe",
    "promptsrc": "PromptSRC",
    "tcp": "TCP",
    "mma": "MMA",
    "coprompt": "CoPrompt",
    "hicropl": "HiCroPL",
}


@dataclass(frozen=True)
class PaperCell:
    table: str
    method: str
    dataset: str
    metric: str
    shots: int | None
    value: float | None
    status: str
    note: str

    @property
    def readable(self) -> bool:
        return self.status == "ok" and self.value is not None


def _cell(row: dict[str, str]) -> PaperCell:
    value = row["value"].strip()
    shots = row["shots"].strip()
    return PaperCell(
        table=row["table"].strip(),
        method=row["method"].strip(),
        dataset=row["dataset"].strip(),
        metric=row["metric"].strip(),
        shots=int(shots) if shots else None,
        value=float(value) if value else None,
        status=row["status"].strip(),
        note=row["note"].strip(),
    )


@cache
def paper_cells() -> tuple[PaperCell, ...]:
    """Every published cell, in file order."""
    text = resources.files("hicropl.results").joinpath("resources", PAPER_FILE).read_text("utf-8")
    return tuple(_cell(row) for row in csv.DictReader(text.splitlines()))


def paper_value(table: str, method: str, dataset: str, metric: str, shots: int | None = None) -> float | None:
    """The published value of one cell, or None where the paper has none or it is unreadable."""
    for entry in paper_cells():
        if (entry.table, entry.method, entry.dataset, entry.metric, entry.shots) == (
            table,
            method,
            dataset,
            metric,
            shots,
        ):
            return entry.value if entry.readable else None
    return None


def paper_table(table: str) -> list[PaperCell]:
    """Every cell of one table ("1", ..., "14"), readable or not, in file order."""
    return [entry for entry in paper_cells() if entry.table == table]


def unreadable_cells() -> list[PaperCell]:
    """The cells whose extracted text could not be read with certainty (their note quotes the text)."""
    return [entry for entry in paper_cells() if entry.status == "unreadable"]
