"""Your own data as a dataset: ``--dataset folder:PATH`` or ``--dataset csv:FILE``.

A reference such as ``folder:~/data/pets`` resolves (in the registry) to a :class:`DatasetSpec`
named after the data (``pets``; ``<folder>-<stem>`` for a CSV), whose reader lists the images
(``own_listing``), takes the split from the split file (``own_split``) and names the classes:

* ``classnames.txt`` in the dataset folder (beside the CSV for a CSV), one line per class:
  ``<folder name or CSV label> <class name>`` (a tab instead of the first space when the key itself
  has spaces); without it a class is called by its key with ``_`` read as a space;
* ``descriptions.json`` in the same place: ``{class name: [sentence, ...]}``, the LLM descriptions
  that HiCroPL and other methods use for their frozen text (checked to cover every class).

Its folder is an absolute path, so it needs no data root. Configs keep the reference (see
``registry.dataset_reference``), so a run can be resumed and evaluated in a new process.
"""

from __future__ import annotations

import os
import re
from collections import Counter
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

from hicropl.data import resources
from hicropl.data.datasets.own_listing import OwnListing, list_csv, list_folder
from hicropl.data.datasets.own_split import own_split
from hicropl.data.files import check_images_exist, read_text_lines
from hicropl.data.spec import DatasetSpec
from hicropl.data.types import DatasetSplits
from hicropl.errors import DataError

CLASSNAMES_FILE = "classnames.txt"
DESCRIPTIONS_FILE = "descriptions.json"
SPLIT_FILE = "hicropl_split.json"
PREFIXES = ("folder", "csv")
DOCS = "see DATASETS.md, section 'Your own data'"

Kind = Literal["folder", "csv"]


@dataclass(frozen=True)
class OwnSource:
    """Where a user's dataset is: a folder of class folders or a CSV file (``path`` is absolute)."""

    kind: Kind
    path: Path

    @property
    def reference(self) -> str:
        """The dataset name that finds this data again from any folder: ``folder:/abs/path``."""
        return f"{self.kind}:{self.path}"

    @property
    def folder(self) -> Path:
        """The folder that holds the data's side files (class names, descriptions, split)."""
        return self.path if self.kind == "folder" else self.path.parent

    @property
    def split_file(self) -> Path:
        if self.kind == "folder":
            return self.path / SPLIT_FILE
        return self.path.with_name(f"{self.path.stem}.{SPLIT_FILE}")

    @property
    def readable_name(self) -> str:
        """A file-system-safe name for run folders and tables: the folder's name (CSV: ``<folder>-<stem>``)."""
        raw = self.path.name if self.kind == "folder" else f"{self.path.parent.name}-{self.path.stem}"
        safe = re.sub(r"[^\w.+-]", "_", raw).strip("._-")
        return safe if re.search(r"[0-9A-Za-z]", safe) else f"{self.kind}_data"

    def listing(self) -> OwnListing:
        return list_folder(self.path) if self.kind == "folder" else list_csv(self.path)


def parse_reference(name: str) -> OwnSource | None:
    """``folder:PATH`` or ``csv:FILE`` (PATH relative to the current folder, ``~`` expanded), else None."""
    kind, colon, rest = name.partition(":")
    kind = kind.strip().lower()
    if not colon or kind not in PREFIXES:
        return None
    if not rest.strip():
        raise DataError(f"--dataset {name!r} names no path; write {kind}:PATH ({DOCS})")
    path = Path(os.path.normpath(Path(rest.strip()).expanduser().absolute()))
    return OwnSource("folder" if kind == "folder" else "csv", path)


def read_classnames(keys: list[str], folder: Path) -> list[str]:
    """Display names of the class keys: from ``classnames.txt`` when present, else the keys themselves."""
    file = folder / CLASSNAMES_FILE
    if not file.is_file():
        names = [" ".join(key.replace("_", " ").split()) or key for key in keys]
        source = f"the class folder names or labels of {folder} (add {file} to name them)"
    else:
        names = _names_from_file(keys, file)
        source = str(file)
    counts = Counter(n.casefold() for n in names)
    twice = [f"{k!r} -> {n!r}" for k, n in zip(keys, names, strict=True) if counts[n.casefold()] > 1]
    if twice:
        raise DataError(
            f"duplicate class names from {source}: {', '.join(twice[:6])}; give each class its own name "
            f"(rename the folders or labels, or list distinct names in {file})"
        )
    return names


def _names_from_file(keys: list[str], file: Path) -> list[str]:
    lines = read_text_lines(file, "save it as UTF-8 text")
    table: dict[str, str] = {}
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        key, _, name = line.partition("\t") if "\t" in line else line.strip().partition(" ")
        key, name = key.strip(), " ".join(name.split())
        if not name:
            raise DataError(f"{file}, line {number}: expected '<folder or label> <class name>', got {line.strip()!r}")
        if key in table:
            raise DataError(f"{file}, line {number}: {key!r} is listed twice; list each class once")
        table[key] = name
    unknown = sorted(set(table) - set(keys))
    if unknown:
        raise DataError(
            f"{file} names classes that the data does not have: {unknown[:5]}; its first word per line must be a "
            "class folder name or CSV label (use a tab after it if it contains spaces)"
        )
    missing = [key for key in keys if key not in table]
    if missing:
        raise DataError(f"{file} has no line for the classes {missing[:5]}; add one line '<key> <class name>' each")
    return [table[key] for key in keys]


def description_file_of(classnames: list[str], folder: Path) -> str | None:
    """``descriptions.json`` of the data (checked to describe every class), or None when there is none."""
    file = folder / DESCRIPTIONS_FILE
    if not file.is_file():
        return None
    table = resources.load_llm_descriptions(str(file))
    missing = [n for n in classnames if not (table.get(n) or table.get(n.replace("_", " ")))]
    if missing:
        raise DataError(
            f"{file} has no descriptions for the classes {missing[:5]}"
            f"{' ...' if len(missing) > 5 else ''}; add an entry '<class name>': [sentences] for each"
        )
    return str(file)


@dataclass(frozen=True)
class OwnReader:
    """The registry's reader for one user's dataset (a class, so ``is_own_spec`` can recognise it)."""

    name: str
    source: OwnSource

    def __call__(self, dataset_dir: Path, check_files: bool = True) -> DatasetSplits:
        listing = self.source.listing()
        keys, parts = own_split(self.name, listing, self.source.split_file, self.source.reference)
        classnames = read_classnames(keys, self.source.folder)
        named = {s: [replace(d, classname=classnames[d.label]) for d in data] for s, data in parts.items()}
        if check_files:
            check_images_exist(
                [*named["train"], *named["val"], *named["test"]],
                what=f"{self.name} ({self.source.split_file})",
                fix=f"restore them, or delete {self.source.split_file} to split the data as it is now",
            )
        return DatasetSplits(
            name=self.name,
            classnames=classnames,
            train=named["train"],
            val=named["val"],
            test=named["test"],
            description_file=description_file_of(classnames, self.source.folder),
        )


def own_dataset_spec(source: OwnSource | str, name: str | None = None) -> DatasetSpec:
    """The spec of a user's dataset (register it with ``register_dataset`` to use it by ``name``)."""
    if isinstance(source, str):
        parsed = parse_reference(source)
        if parsed is None:
            raise DataError(f"{source!r} is not a folder:PATH or csv:FILE reference ({DOCS})")
        source = parsed
    name = name or source.readable_name
    if source.kind == "folder":
        layout = f"{source.path}/\n  <class>/<image>  (or train|val|test/<class>/<image>)"
        layout += f"\n  {CLASSNAMES_FILE} (optional)"
    else:
        layout = f"{source.path}: path,label[,split]; {CLASSNAMES_FILE} beside it (optional)"
    return DatasetSpec(
        name=name,
        folder=str(source.folder),
        reader=OwnReader(name, source),
        source=f"your own data ({source.reference}): {DOCS}",
        layout=layout + f"\n  {DESCRIPTIONS_FILE} (optional)",
        required=() if source.kind == "folder" else (source.path.name,),
    )


def folder_dataset(path: str | Path, name: str | None = None) -> DatasetSpec:
    """The spec of a folder of class folders; ``name`` defaults to the folder's name."""
    return own_dataset_spec(f"folder:{path}", name)


def csv_dataset(file: str | Path, name: str | None = None) -> DatasetSpec:
    """The spec of a ``path,label[,split]`` CSV file; ``name`` defaults to ``<folder>-<stem>``."""
    return own_dataset_spec(f"csv:{file}", name)


def is_own_spec(spec: DatasetSpec) -> bool:
    return isinstance(spec.reader, OwnReader)
