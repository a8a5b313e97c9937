"""Synthetic miniatures of the 15 datasets' on-disk layouts (CoOp's), for tests.

Independent of hicropl on purpose: it writes what a user's disk would hold (tiny real JPEG/PNG
files, CoOp split files with the real structure and real class names, annotation and class-name
files), so the readers are tested against the layout, not against themselves.

Use ``make_miniature(root)`` to build every dataset (or ``names=[...]`` for some) under ``root``;
it returns a ``Miniature`` whose ``datasets[name]`` says what each reader should find.
Notes on fidelity: Flowers' ``imagelabels.mat`` and Cars' ``devkit/*.mat`` are not written (the
readers use the split files, which carry the labels and names); everything else mirrors CoOp.
"""

from __future__ import annotations

import io
import json
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image

SPLITS = ("train", "val", "test")

# ImageNet classes written to each ImageNet-family folder's classnames.txt (real wnids and CoOp names).
IMAGENET_CLASSES: list[tuple[str, str]] = [
    ("n01440764", "tench"),
    ("n01443537", "goldfish"),
    ("n01484850", "great white shark"),
    ("n01491361", "tiger shark"),
    ("n01494475", "hammerhead shark"),
]


@dataclass
class MiniDataset:
    """What a reader should return for one miniature dataset."""

    name: str
    folder: Path
    classnames: list[str]
    counts: dict[str, int]
    paths: dict[str, list[Path]] = field(default_factory=dict)

    def all_paths(self) -> list[Path]:
        return [p for split in SPLITS for p in self.paths.get(split, [])]


@dataclass
class Miniature:
    root: Path
    datasets: dict[str, MiniDataset]


_counter = 0


def image_bytes(fmt: str = "JPEG", size: int = 12, seed: int | None = None) -> bytes:
    """A small, distinct image (a two-colour pattern derived from ``seed``) encoded as JPEG or PNG."""
    global _counter
    if seed is None:
        _counter += 1
        seed = _counter
    value = zlib.crc32(str(seed).encode())
    colour = (value & 255, (value >> 8) & 255, (value >> 16) & 255)
    image = Image.new("RGB", (size + seed % 5, size), colour)
    image.paste((255 - colour[0], 128, colour[2]), (0, 0, size // 2, size // 2))
    buffer = io.BytesIO()
    image.save(buffer, fmt, **({"quality": 90} if fmt == "JPEG" else {}))
    return buffer.getvalue()


def write_image(path: Path, seed: int | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fmt = "PNG" if path.suffix.lower() == ".png" else "JPEG"
    path.write_bytes(image_bytes(fmt, seed=seed))
    return path


def truncate_image(path: Path, keep: float = 0.5) -> None:
    """Cut an image file short (a typical partial download)."""
    data = path.read_bytes()
    path.write_bytes(data[: max(1, int(len(data) * keep))])


def corrupt_image(path: Path) -> None:
    """Replace an image by bytes no decoder accepts."""
    path.write_bytes(b"this is not an image\x00" * 8)


def _write_json(path: Path, data: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=1), encoding="utf-8")


def _per_class(label: int, train: int, val: int, test: int) -> dict[str, int]:
    # Uneven class sizes (every other class has one more training image) exercise "fewer than K".
    return {"train": train + label % 2, "val": val, "test": test}


class _SplitWriter:
    """Collects [relpath, label, classname] entries and the image files behind them."""

    def __init__(self, name: str, folder: Path, image_dir: Path) -> None:
        self.info = MiniDataset(name, folder, [], dict.fromkeys(SPLITS, 0), {s: [] for s in SPLITS})
        self.image_dir = image_dir
        self.split: dict[str, list[list[object]]] = {s: [] for s in SPLITS}

    def add(self, split: str, relpath: str, label: int, classname: str, write: bool = True) -> None:
        path = self.image_dir / relpath
        if write:
            write_image(path)
        self.split[split].append([relpath, label, classname])
        self.info.counts[split] += 1
        self.info.paths[split].append(path)

    def save_split(self, filename: str) -> None:
        _write_json(self.info.folder / filename, self.split)


def _class_folder_dataset(
    root: Path,
    name: str,
    folder: str,
    image_sub: str,
    classes: Sequence[tuple[str, str]],
    filename: str,
    ext: str = ".jpg",
    sizes: tuple[int, int, int] = (3, 2, 2),
) -> _SplitWriter:
    """Datasets whose images sit in one folder per class: Caltech, DTD, EuroSAT, Food, UCF."""
    base = root / folder
    writer = _SplitWriter(name, base, base / image_sub)
    writer.info.classnames = [cname for _, cname in classes]
    for label, (class_folder, cname) in enumerate(classes):
        index = 0
        for split, count in _per_class(label, *sizes).items():
            for _ in range(count):
                index += 1
                writer.add(split, f"{class_folder}/{filename.format(folder=class_folder, i=index)}{ext}", label, cname)
    writer.save_split(f"split_zhou_{name}.json")
    return writer


def make_caltech101(root: Path) -> MiniDataset:
    classes = [("Faces", "face"), ("Leopards", "leopard"), ("accordion", "accordion"), ("airplanes", "airplane")]
    writer = _class_folder_dataset(root, "Caltech101", "caltech-101", "101_ObjectCategories", classes, "image_{i:04d}")
    # The folders CoOp ignores exist in the real archive.
    write_image(root / "caltech-101/101_ObjectCategories/BACKGROUND_Google/image_0001.jpg")
    write_image(root / "caltech-101/101_ObjectCategories/Faces_easy/image_0001.jpg")
    return writer.info


def make_dtd(root: Path, nested: bool = False) -> MiniDataset:
    classes = [(c, c) for c in ("banded", "blotchy", "zigzagged")]
    sub = "dtd/images" if nested else "images"
    writer = _class_folder_dataset(root, "DescribableTextures", "dtd", sub, classes, "{folder}_{i:04d}")
    (writer.info.folder / ("dtd/labels" if nested else "labels")).mkdir(parents=True, exist_ok=True)
    return writer.info


def make_eurosat(root: Path) -> MiniDataset:
    classes = [("AnnualCrop", "Annual Crop Land"), ("Forest", "Forest"), ("SeaLake", "Sea or Lake")]
    return _class_folder_dataset(root, "EuroSAT", "eurosat", "2750", classes, "{folder}_{i}").info


def make_food101(root: Path) -> MiniDataset:
    classes = [(c, c) for c in ("apple_pie", "baby_back_ribs", "baklava")]
    writer = _class_folder_dataset(root, "Food101", "food-101", "images", classes, "{i}00{i}")
    meta = writer.info.folder / "meta"
    meta.mkdir(parents=True, exist_ok=True)
    (meta / "classes.txt").write_text("\n".join(c for c, _ in classes) + "\n")
    return writer.info


def make_ucf101(root: Path) -> MiniDataset:
    classes = [(c, c) for c in ("Apply_Eye_Makeup", "Playing_Daf", "Yo_Yo")]
    base = root / "ucf101"
    writer = _SplitWriter("UCF101", base, base / "UCF-101-midframes")
    writer.info.classnames = [c for c, _ in classes]
    for label, (folder, cname) in enumerate(classes):
        action = folder.replace("_", "")
        group = 0
        for split, count in _per_class(label, 3, 2, 2).items():
            for _ in range(count):
                group += 1
                writer.add(split, f"{folder}/v_{action}_g{group:02d}_c01.jpg", label, cname)
    writer.save_split("split_zhou_UCF101.json")
    return writer.info


def make_oxford_pets(root: Path) -> MiniDataset:
    breeds = ["Abyssinian", "american_bulldog", "Bengal", "yorkshire_terrier"]
    base = root / "oxford_pets"
    writer = _SplitWriter("OxfordPets", base, base / "images")
    writer.info.classnames = [b.lower() for b in breeds]
    trainval, test = [], []
    for label, breed in enumerate(breeds):
        index = 0
        species = 1 if breed[0].isupper() else 2  # cats are capitalised in the real file names
        for split, count in _per_class(label, 3, 2, 2).items():
            for _ in range(count):
                index += 1
                writer.add(split, f"{breed}_{index}.jpg", label, breed.lower())
                line = f"{breed}_{index} {label + 1} {species} {label + 1}"
                (test if split == "test" else trainval).append(line)
    annotations = base / "annotations"
    annotations.mkdir(parents=True, exist_ok=True)
    (annotations / "trainval.txt").write_text("\n".join(trainval) + "\n")
    (annotations / "test.txt").write_text("\n".join(test) + "\n")
    writer.save_split("split_zhou_OxfordPets.json")
    return writer.info


def make_stanford_cars(root: Path) -> MiniDataset:
    names = ["2012 Audi TTS Coupe", "2007 BMW X5 SUV", "2012 Tesla Model S Sedan"]
    base = root / "stanford_cars"
    writer = _SplitWriter("StanfordCars", base, base)
    writer.info.classnames = names
    numbers = {"cars_train": 0, "cars_test": 0}
    for label, name in enumerate(names):
        for split, count in _per_class(label, 3, 2, 2).items():
            folder = "cars_test" if split == "test" else "cars_train"
            for _ in range(count):
                numbers[folder] += 1
                writer.add(split, f"{folder}/{numbers[folder]:05d}.jpg", label, name)
    (base / "devkit").mkdir(exist_ok=True)
    writer.save_split("split_zhou_StanfordCars.json")
    return writer.info


# The first three entries of the real cat_to_name.json (labels 0, 1, 2).
FLOWER_NAMES = ["pink primrose", "hard-leaved pocket orchid", "canterbury bells"]


def make_oxford_flowers(root: Path) -> MiniDataset:
    base = root / "oxford_flowers"
    writer = _SplitWriter("OxfordFlowers", base, base / "jpg")
    writer.info.classnames = list(FLOWER_NAMES)
    number = 0
    for label, name in enumerate(FLOWER_NAMES):
        for split, count in _per_class(label, 3, 2, 2).items():
            for _ in range(count):
                number += 1
                writer.add(split, f"image_{number:05d}.jpg", label, name)
    _write_json(base / "cat_to_name.json", {str(i + 1): n for i, n in enumerate(FLOWER_NAMES)})
    writer.save_split("split_zhou_OxfordFlowers.json")
    return writer.info


def make_sun397(root: Path) -> MiniDataset:
    classes = [("/a/abbey", "abbey"), ("/a/apartment_building/outdoor", "outdoor apartment_building"),
               ("/b/bakery/shop", "shop bakery")]  # fmt: skip
    base = root / "sun397"
    writer = _SplitWriter("SUN397", base, base / "SUN397")
    writer.info.classnames = [c for _, c in classes]
    for label, (class_path, cname) in enumerate(classes):
        index = 0
        for split, count in _per_class(label, 3, 2, 2).items():
            for _ in range(count):
                index += 1
                writer.add(split, f"{class_path.strip('/')}/sun_{label:03d}{index:09d}.jpg", label, cname)
    (base / "ClassName.txt").write_text("\n".join(c for c, _ in classes) + "\n")
    writer.save_split("split_zhou_SUN397.json")
    return writer.info


FGVC_VARIANTS = ["707-320", "A300B4", "Cessna 172", "F/A-18"]


def make_fgvc_aircraft(root: Path, nested: bool = False) -> MiniDataset:
    base = root / "fgvc_aircraft"
    data_dir = base / "data" if nested else base
    info = MiniDataset("FGVCAircraft", base, list(FGVC_VARIANTS), dict.fromkeys(SPLITS, 0), {s: [] for s in SPLITS})
    lines: dict[str, list[str]] = {s: [] for s in SPLITS}
    image_id = 1000000
    for label, variant in enumerate(FGVC_VARIANTS):
        for split, count in _per_class(label, 3, 2, 2).items():
            for _ in range(count):
                image_id += 7
                path = write_image(data_dir / "images" / f"{image_id}.jpg")
                lines[split].append(f"{image_id} {variant}")
                info.counts[split] += 1
                info.paths[split].append(path)
    (data_dir / "variants.txt").write_text("\n".join(FGVC_VARIANTS) + "\n")
    for split in SPLITS:
        (data_dir / f"images_variant_{split}.txt").write_text("\n".join(lines[split]) + "\n")
    (data_dir / "families.txt").write_text("Boeing 707\nAirbus A300\nCessna 172\nF/A-18\n")
    return info


def _write_classnames(folder: Path, classes: Sequence[tuple[str, str]]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "classnames.txt").write_text("".join(f"{w} {n}\n" for w, n in classes))


def make_imagenet(root: Path, classes: Sequence[tuple[str, str]] = IMAGENET_CLASSES) -> MiniDataset:
    base = root / "imagenet"
    _write_classnames(base, classes)
    ordered = sorted(classes)
    info = MiniDataset("ImageNet", base, [n for _, n in ordered], dict.fromkeys(SPLITS, 0), {s: [] for s in SPLITS})
    val_number = 0
    for label, (wnid, _) in enumerate(ordered):
        for i in range(3 + label % 2):
            info.paths["train"].append(write_image(base / "images/train" / wnid / f"{wnid}_{i + 1}.JPEG"))
        for _ in range(2):
            val_number += 1
            path = write_image(base / "images/val" / wnid / f"ILSVRC2012_val_{val_number:08d}.JPEG")
            info.paths["test"].append(path)
    info.paths["val"] = list(info.paths["test"])
    info.counts = {s: len(info.paths[s]) for s in SPLITS}
    return info


def make_imagenetv2(root: Path) -> MiniDataset:
    base = root / "imagenetv2"
    _write_classnames(base, IMAGENET_CLASSES)
    info = MiniDataset("ImageNetV2", base, [n for _, n in IMAGENET_CLASSES], {"train": 0, "val": 0, "test": 0}, {})
    info.paths = {"train": [], "val": [], "test": []}
    for label in range(len(IMAGENET_CLASSES)):
        for i in range(2):
            path = base / "imagenetv2-matched-frequency-format-val" / str(label) / f"{label:04x}{i:036x}.jpeg"
            info.paths["test"].append(write_image(path))
    info.counts["test"] = len(info.paths["test"])
    return info


def make_imagenet_sketch(root: Path) -> MiniDataset:
    base = root / "imagenet-sketch"
    _write_classnames(base, IMAGENET_CLASSES)
    ordered = sorted(IMAGENET_CLASSES)
    info = MiniDataset("ImageNetSketch", base, [n for _, n in ordered], {"train": 0, "val": 0, "test": 0}, {})
    info.paths = {"train": [], "val": [], "test": []}
    for wnid, _ in ordered:
        for i in range(2):
            info.paths["test"].append(write_image(base / "images" / wnid / f"sketch_{i}.JPEG"))
    info.counts["test"] = len(info.paths["test"])
    return info


def make_imagenet_subset(
    root: Path,
    name: str,
    folder: str,
    image_sub: str,
    wnids: Iterable[str],
    classnames_file: bool = True,
    names: dict[str, str] | None = None,
) -> MiniDataset:
    """ImageNet-A/-R: folders for a subset of the classes listed in classnames.txt, plus README.txt."""
    base = root / folder
    table = dict(names or IMAGENET_CLASSES)
    if classnames_file:
        _write_classnames(base, IMAGENET_CLASSES)
    present = sorted(wnids)
    info = MiniDataset(name, base, [table[w] for w in present], {"train": 0, "val": 0, "test": 0}, {})
    info.paths = {"train": [], "val": [], "test": []}
    for wnid in present:
        for i in range(2 + len(wnid) % 2):
            info.paths["test"].append(write_image(base / image_sub / wnid / f"{i:04x}.jpg"))
    (base / image_sub / "README.txt").write_text("a subset of 200 ImageNet classes\n")
    info.counts["test"] = len(info.paths["test"])
    return info


def make_imagenet_a(root: Path) -> MiniDataset:
    return make_imagenet_subset(root, "ImageNetA", "imagenet-adversarial", "imagenet-a", ["n01443537", "n01491361"])


def make_imagenet_r(root: Path) -> MiniDataset:
    wnids = ["n01440764", "n01484850", "n01494475"]
    return make_imagenet_subset(root, "ImageNetR", "imagenet-rendition", "imagenet-r", wnids)


BUILDERS = {
    "ImageNet": make_imagenet,
    "Caltech101": make_caltech101,
    "OxfordPets": make_oxford_pets,
    "StanfordCars": make_stanford_cars,
    "OxfordFlowers": make_oxford_flowers,
    "Food101": make_food101,
    "FGVCAircraft": make_fgvc_aircraft,
    "SUN397": make_sun397,
    "DescribableTextures": make_dtd,
    "EuroSAT": make_eurosat,
    "UCF101": make_ucf101,
    "ImageNetV2": make_imagenetv2,
    "ImageNetSketch": make_imagenet_sketch,
    "ImageNetA": make_imagenet_a,
    "ImageNetR": make_imagenet_r,
}


def make_miniature(root: str | Path, names: Iterable[str] | None = None) -> Miniature:
    """Write miniatures of ``names`` (default: all 15) under ``root``."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    chosen = list(BUILDERS) if names is None else list(names)
    return Miniature(root, {name: BUILDERS[name](root) for name in chosen})
