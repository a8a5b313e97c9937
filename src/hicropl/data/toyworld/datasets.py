"""ToyWorld's downstream datasets: generated deterministically into the data root on first use.

Two concept families, each with its own domain shift relative to pretraining:

* ``ToyWorldShapes`` (``toyworld-shapes``): 80 classes, colour x shape ("red triangle"); the pattern
  is a nuisance. Shift: colourful blotchy background, distractor strokes, warm light, noise.
* ``ToyWorldGlyphs`` (``toyworld-glyphs``): 80 classes, colour x letter ("blue letter k"). Shift:
  faded ink on textured paper, cool light, blur, noise.

Classes are ordered item-major (all colours of the first shape, then the next shape...), so CoOp's
base/novel split (first half / second half of the labels) puts *different shapes or letters* in the
novel half, in the same colours. Each dataset folder holds ``split.json`` (CoOp's split format:
``[relative path, label, class name]`` per image), ``descriptions.json`` (per-class sentences for
HiCroPL's frozen text), ``toyworld.json`` (what generated it) and the PNG images.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from hicropl.data.spec import DatasetSpec, SplitCounts
from hicropl.data.toyworld.render import KIND_GLYPH, KIND_SHAPE, render
from hicropl.data.toyworld.styles import CLUTTER, FADED_PRINT, Style, sample_scenes
from hicropl.data.toyworld.text import glyph_class_name, glyph_descriptions, shape_class_name, shape_descriptions
from hicropl.data.toyworld.world import COLOUR_NAMES, LETTERS, PATTERNS, SHAPES
from hicropl.data.types import DatasetSplits, Datum
from hicropl.errors import DataError

log = logging.getLogger("hicropl.toyworld")

# Bump when the generator changes what it draws: folders made by another version are regenerated.
GENERATOR_VERSION = 1
MANIFEST = "toyworld.json"
SPLIT_FILE = "split.json"
DESCRIPTION_FILE = "descriptions.json"
SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class ToyDataset:
    """One downstream dataset: its classes (colour x item), domain style, split sizes and seed."""

    name: str
    folder: str
    aliases: tuple[str, ...]
    family: str  # "shapes" or "glyphs"
    items: tuple[str, ...]
    colours: tuple[str, ...]
    style: Style
    seed: int
    per_class: tuple[int, int, int] = (20, 4, 30)  # train, val, test images per class

    @property
    def classnames(self) -> list[str]:
        name = shape_class_name if self.family == "shapes" else glyph_class_name
        return [name(colour, item) for item in self.items for colour in self.colours]

    @property
    def num_classes(self) -> int:
        return len(self.items) * len(self.colours)

    def descriptions(self) -> dict[str, list[str]]:
        describe = shape_descriptions if self.family == "shapes" else glyph_descriptions
        return {
            name: describe(colour, item)
            for name, (item, colour) in zip(
                self.classnames, [(i, c) for i in self.items for c in self.colours], strict=True
            )
        }

    def class_attributes(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per label: (kind, item index in SHAPES/LETTERS, colour index in COLOUR_NAMES)."""
        table = SHAPES if self.family == "shapes" else LETTERS
        kind = KIND_SHAPE if self.family == "shapes" else KIND_GLYPH
        items = [table.index(i) for i in self.items for _ in self.colours]
        colours = [COLOUR_NAMES.index(c) for _ in self.items for c in self.colours]
        return np.full(len(items), kind), np.asarray(items), np.asarray(colours)

    def render_split(self, split: str, per_class: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """``(uint8 images [N, 32, 32, 3], labels [N])`` of one split, class by class (deterministic)."""
        count = self.per_class[SPLITS.index(split)] if per_class is None else per_class
        kind, item, colour = self.class_attributes()
        labels = np.repeat(np.arange(self.num_classes), count)
        rng = np.random.default_rng([self.seed, SPLITS.index(split)])
        pattern = rng.integers(0, len(PATTERNS), size=len(labels))
        scenes, _ = sample_scenes(rng, self.style, kind[labels], item[labels], colour[labels], pattern)
        chunks = [
            render(scenes.take(np.arange(s, min(s + 1024, len(labels)))), rng) for s in range(0, len(labels), 1024)
        ]
        return np.concatenate(chunks), labels

    @property
    def spec(self) -> DatasetSpec:
        train, val, test = (n * self.num_classes for n in self.per_class)
        return DatasetSpec(
            name=self.name,
            folder=self.folder,
            reader=self.read,
            aliases=self.aliases,
            description_file=DESCRIPTION_FILE,
            num_classes=self.num_classes,
            expected=SplitCounts(train=train, val=val, test=test),
            source=(
                "ToyWorld datasets are generated, not downloaded: run `hicropl toyworld prepare --data-root DATA` "
                "(or `hicropl demo`, or in Python `hicropl.data.toyworld.prepare_datasets(DATA)`) to write them "
                "into the data root (seconds)"
            ),
            layout=(
                f"{self.folder}/\n  {MANIFEST}\n  {SPLIT_FILE}\n  {DESCRIPTION_FILE}\n"
                "  images/<split>/<label>_<class>/<n>.png"
            ),
            required=(MANIFEST, SPLIT_FILE, DESCRIPTION_FILE),
        )

    def read(self, dataset_dir: Path, check_files: bool = True) -> DatasetSplits:
        """The reader the registry calls: ``split.json`` -> :class:`DatasetSplits`."""
        split_path = dataset_dir / SPLIT_FILE
        if not split_path.is_file():
            raise DataError(f"{self.name}: {split_path} is missing. {self.spec.source}.")
        try:
            table = json.loads(split_path.read_text("utf-8"))
        except (OSError, ValueError) as exc:
            raise DataError(
                f"{self.name}: {split_path} is unreadable ({exc}); delete {dataset_dir} to regenerate it"
            ) from exc
        parts: dict[str, list[Datum]] = {}
        for split in SPLITS:
            parts[split] = [Datum(str(dataset_dir / rel), int(label), name) for rel, label, name in table[split]]
        if check_files:
            from hicropl.data.files import check_images_exist

            for split in SPLITS:
                check_images_exist(
                    parts[split],
                    what=f"{self.name} {split} ({split_path})",
                    fix=f"delete {dataset_dir} to regenerate it",
                )
        return DatasetSplits(
            self.name,
            self.classnames,
            parts["train"],
            parts["val"],
            parts["test"],
            description_file=str(dataset_dir / DESCRIPTION_FILE),
        )

    def manifest(self) -> dict[str, object]:
        return {
            "generator": "hicropl.toyworld",
            "version": GENERATOR_VERSION,
            "dataset": self.name,
            "seed": self.seed,
            "style": asdict(self.style),
            "per_class": list(self.per_class),
            "classes": self.num_classes,
        }


TOYWORLD_SHAPES = ToyDataset(
    name="ToyWorldShapes",
    folder="toyworld_shapes",
    aliases=("toyworld-shapes", "tw-shapes"),
    family="shapes",
    items=SHAPES,
    colours=COLOUR_NAMES,
    style=CLUTTER,
    seed=101,
)
# Horizontal flips (part of the engine's training augmentation) turn "d" into "b" and "q" into "p": those
# two are left out, so a flipped letter is never another class.
GLYPH_LETTERS: tuple[str, ...] = tuple(letter for letter in LETTERS if letter not in ("d", "q"))[:20]
TOYWORLD_GLYPHS = ToyDataset(
    name="ToyWorldGlyphs",
    folder="toyworld_glyphs",
    aliases=("toyworld-glyphs", "tw-glyphs"),
    family="glyphs",
    items=GLYPH_LETTERS,
    colours=("red", "green", "blue", "purple"),
    style=FADED_PRINT,
    seed=202,
)
TOYWORLD_DATASETS: tuple[ToyDataset, ...] = (TOYWORLD_SHAPES, TOYWORLD_GLYPHS)
# What the dataset registry registers (names and aliases as above).
TOYWORLD_SPECS: tuple[DatasetSpec, ...] = tuple(d.spec for d in TOYWORLD_DATASETS)


def get_toy_dataset(name: str) -> ToyDataset:
    from hicropl.data.naming import name_key, suggestion

    key = name_key(name)
    for dataset in TOYWORLD_DATASETS:
        if key in {name_key(dataset.name), name_key(dataset.folder), *(name_key(a) for a in dataset.aliases)}:
            return dataset
    known = [d.name for d in TOYWORLD_DATASETS]
    raise DataError(f"unknown ToyWorld dataset {name!r}{suggestion(name, known)}; known: {', '.join(known)}")


def is_current(folder: Path, dataset: ToyDataset) -> bool:
    """True when ``folder`` holds a complete dataset made by this generator version."""
    try:
        manifest = json.loads((folder / MANIFEST).read_text("utf-8"))
    except (OSError, ValueError):
        return False
    expected = json.loads(json.dumps(dataset.manifest()))  # tuples -> lists, as read back from JSON
    return manifest == expected and (folder / SPLIT_FILE).is_file() and (folder / DESCRIPTION_FILE).is_file()


def _write(dataset: ToyDataset, folder: Path) -> None:
    from PIL import Image

    table: dict[str, list[list[object]]] = {}
    names = dataset.classnames
    for split in SPLITS:
        images, labels = dataset.render_split(split)
        rows = []
        counters = np.zeros(dataset.num_classes, dtype=np.int64)
        for image, label in zip(images, labels, strict=True):
            label = int(label)
            rel = f"images/{split}/{label:03d}_{names[label].replace(' ', '_')}/{int(counters[label]):03d}.png"
            counters[label] += 1
            path = folder / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(image).save(path, optimize=False, compress_level=1)
            rows.append([rel, label, names[label]])
        table[split] = rows
    (folder / SPLIT_FILE).write_text(json.dumps(table), encoding="utf-8")
    (folder / DESCRIPTION_FILE).write_text(json.dumps(dataset.descriptions(), indent=1), encoding="utf-8")
    # The manifest goes last: a folder without it is incomplete.
    (folder / MANIFEST).write_text(json.dumps(dataset.manifest(), indent=2) + "\n", encoding="utf-8")


def prepare_dataset(name: str | ToyDataset, root: str | Path) -> Path:
    """Generate dataset ``name`` under ``root`` (created if missing) unless a current copy is there;
    returns its folder.

    The images are written to a temporary folder next to the target and renamed into place, so an
    interrupted generation leaves nothing half-written behind, and two processes can race safely.
    A folder of the same name that ToyWorld did not make is never touched (DataError).
    """
    dataset = name if isinstance(name, ToyDataset) else get_toy_dataset(name)
    root_path = Path(root).expanduser()
    if root_path.exists() and not root_path.is_dir():
        raise DataError(f"the data root {root_path.absolute()} is a file; pass a folder to hold the datasets")
    root_path.mkdir(parents=True, exist_ok=True)
    folder = root_path / dataset.folder
    if is_current(folder, dataset):
        return folder
    if folder.exists() and not (folder / MANIFEST).is_file():
        raise DataError(
            f"{folder} exists but was not made by ToyWorld (no {MANIFEST}); move it away so that {dataset.name} "
            "can be generated there"
        )
    log.info("Generating %s into %s", dataset.name, folder)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dataset.folder}.", dir=root_path))
    try:
        _write(dataset, tmp)
        if folder.exists():  # an older generator's copy (it has our manifest): replace it
            if is_current(folder, dataset):
                return folder
            stale = root_path / f".{dataset.folder}.stale-{os.getpid()}"
            folder.rename(stale)
            shutil.rmtree(stale, ignore_errors=True)
        try:
            tmp.rename(folder)
        except OSError:
            if not is_current(folder, dataset):  # someone else's generation won the race
                raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return folder


def prepare_datasets(root: str | Path, names: Iterable[str] | None = None) -> list[Path]:
    """Generate every ToyWorld dataset (or those named) under ``root``; cheap when they are current."""
    chosen = [d.name for d in TOYWORLD_DATASETS] if names is None else list(names)
    return [prepare_dataset(name, root) for name in chosen]


def register_toyworld_datasets() -> None:
    """Make the ToyWorld datasets known to :mod:`hicropl.data.registry` (idempotent)."""
    from hicropl.data.registry import get_dataset_spec, register_dataset
    from hicropl.errors import ConfigError

    for spec in TOYWORLD_SPECS:
        try:
            if get_dataset_spec(spec.name).folder == spec.folder:
                continue
        except ConfigError:
            pass
        register_dataset(spec)
