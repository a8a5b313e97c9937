"""The data of a run, assembled from the data package: few-shot split, class subset, datasets, loaders."""

from __future__ import annotations

import hashlib
import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from torch.utils.data import DataLoader

from hicropl.clip.features import default_cache_dir
from hicropl.clip.load import CLIPBackbone
from hicropl.data.fewshot import classes_with_fewer, few_shot_split, normalize_shots
from hicropl.data.protocols import get_protocol
from hicropl.data.registry import build_dataset, get_dataset_spec, needs_data_root
from hicropl.data.subsample import normalize_subset, subsample_classes
from hicropl.data.types import DatasetSplits, Datum
from hicropl.engine.distributed import DistInfo
from hicropl.engine.run_config import DataConfig
from hicropl.engine.sampling import ShardSampler
from hicropl.errors import ConfigError, DataError
from hicropl.methods.base import ClassSet
from hicropl.results.record import evaluation_name

if TYPE_CHECKING:
    from hicropl.data.transforms import TrainAugmentation

log = logging.getLogger("hicropl.data")


@dataclass(frozen=True)
class Evaluation:
    """One test of a run: ``dataset`` restricted to ``subset`` ("all", "base", "new"), on ``split``."""

    dataset: str
    subset: str = "all"
    split: str = "test"

    @property
    def name(self) -> str:
        return evaluation_name(self.dataset, self.subset, self.split)


def resolve_root(root: str | Path | None, dataset: str | None = None) -> Path:
    """The data root; the user's own ``dataset`` (``folder:``/``csv:``) needs none and gets its own folder."""
    if not root and dataset and not needs_data_root(dataset):
        return get_dataset_spec(dataset).dataset_dir(".")
    if not root:
        raise ConfigError(
            "No data root given: pass --data-root DIR (the folder that holds the dataset folders), set data.root "
            "in the config file, or set the HICROPL_DATA environment variable."
        )
    path = Path(root).expanduser()
    if not path.is_dir():
        raise DataError(
            f"The data root {path.absolute()} does not exist or is not a folder; pass --data-root with the folder "
            "that holds the datasets (see DATASETS.md)."
        )
    return path


def canonical_dataset(name: str) -> str:
    if not name:
        raise ConfigError("No dataset given: pass --dataset NAME or set data.dataset in the config file.")
    return get_dataset_spec(name).name


def planned_evaluations(config: DataConfig) -> list[Evaluation]:
    """The protocol's tests after training: the source's class subsets, then each target (all classes)."""
    protocol = get_protocol(config.protocol)
    source = canonical_dataset(config.dataset)
    evaluations = [Evaluation(source, normalize_subset(s)) for s in protocol.eval_subsets]
    targets = protocol.eval_targets if config.targets is None else config.targets
    for target in targets:
        name = canonical_dataset(target)
        if name != source:
            evaluations.append(Evaluation(name, "all"))
    return evaluations


def train_subset(config: DataConfig) -> str:
    return normalize_subset(get_protocol(config.protocol).class_subset_train)


def class_set(splits: DatasetSplits) -> ClassSet:
    return ClassSet(tuple(splits.classnames), splits.name, splits.description_file)


def split_fingerprint(splits: DatasetSplits, root: Path) -> str:
    """SHA-256 of the exact (relative path, label) lists of train, val and test."""
    digest = hashlib.sha256()
    for part in (splits.train, splits.val, splits.test):
        rows = [(_relative(d, root), d.label) for d in part]
        digest.update(json.dumps(rows).encode("utf-8"))
    return digest.hexdigest()


def _relative(datum: Datum, root: Path) -> str:
    try:
        return os.path.relpath(datum.impath, root)
    except ValueError:
        return datum.impath


@dataclass
class TrainingData:
    """The training classes' splits (after few-shot sampling and class subsetting) and their datasets."""

    splits: DatasetSplits
    full: DatasetSplits  # all classes (few-shot train/val, full test): the source of the evaluations
    root: Path
    train: Any
    val: Any
    fewshot_source: str
    fewshot_path: str | None
    transform_fingerprint: str
    # Training classes with fewer images than the shots asked for (data.shots_policy=available), with counts.
    fewer_shots: dict[str, int] = field(default_factory=dict)

    def record(self) -> dict[str, Any]:
        return {
            "root": str(self.root.absolute()),
            "train_images": len(self.splits.train),
            "val_images": len(self.splits.val),
            "test_images": len(self.splits.test),
            "classes": len(self.splits.classnames),
            "split_sha256": split_fingerprint(self.splits, self.root),
            "fewshot_source": self.fewshot_source,
            "fewshot_file": self.fewshot_path,
            "transform": self.transform_fingerprint,
            "classes_with_fewer_shots": dict(self.fewer_shots),
        }


def transforms_of(backbone: CLIPBackbone, augmentation: TrainAugmentation = "crop_flip") -> tuple[Any, Any, str]:
    from hicropl.data.transforms import build_transform, transform_fingerprint

    pre = backbone.preprocessing
    train = build_transform(True, pre.image_size, pre.mean, pre.std, augmentation)
    test = build_transform(False, pre.image_size, pre.mean, pre.std)
    return train, test, transform_fingerprint(train) + "/" + transform_fingerprint(test)


def image_dataset(data: list[Datum], transform: Any, skip_corrupt: bool, second_transform: Any = None) -> Any:
    from hicropl.data.loader import ImageDataset

    return ImageDataset(data, transform, skip_corrupt=skip_corrupt, second_transform=second_transform)


def load_training_data(
    config: DataConfig,
    seed: int,
    backbone: CLIPBackbone,
    skip_corrupt: bool = False,
    augmentation: TrainAugmentation = "crop_flip",
    second_view: bool = False,
) -> TrainingData:
    """The run's training data; ``augmentation`` and ``second_view`` are what the method declares
    (``PromptMethod.train_augmentation``, ``takes_second_view``): with ``second_view`` every training
    item carries a second, independent augmentation of its image (Dassl's K_TRANSFORMS 2)."""
    root = resolve_root(config.root, config.dataset)
    name = canonical_dataset(config.dataset)
    splits = build_dataset(name, root)
    if splits.test_only:
        raise ConfigError(f"{name} has no training images (it is test-only); train on another --dataset.")
    sampled = few_shot_split(
        splits,
        config.shots,
        seed,
        cache_dir=default_cache_dir(),
        dataset_dir=get_dataset_spec(name).dataset_dir(root),
    )
    chosen = subsample_classes(sampled.splits, train_subset(config))
    shots = normalize_shots(config.shots)
    fewer = classes_with_fewer(chosen.train, chosen.classnames, shots) if shots else {}
    train_tf, test_tf, fingerprint = transforms_of(backbone, augmentation)
    if second_view:
        fingerprint += "/second_view"
    log.info(
        "%s: %d classes, %d training images (%s shots, %s), %d val, %d test",
        name,
        len(chosen.classnames),
        len(chosen.train),
        config.shots,
        sampled.source,
        len(chosen.val),
        len(chosen.test),
    )
    return TrainingData(
        splits=chosen,
        full=sampled.splits,
        root=root,
        train=image_dataset(chosen.train, train_tf, skip_corrupt, train_tf if second_view else None),
        val=image_dataset(chosen.val, test_tf, skip_corrupt),
        fewshot_source=sampled.source,
        fewshot_path=sampled.path,
        transform_fingerprint=fingerprint,
        fewer_shots=fewer,
    )


def check_shots(data: TrainingData, config: DataConfig) -> None:
    """For methods that learn from the training images: classes with fewer than ``config.shots`` images
    are an error naming them (a folder named shots_16 must hold 16-shot training) unless
    ``data.shots_policy`` is "available"; then a warning, and the run record lists them."""
    if not data.fewer_shots:
        return
    classes = len(data.splits.classnames)
    if config.shots_policy == "available":
        log.warning(
            "%d of %d classes have fewer than %d training images and train on all they have: %s",
            len(data.fewer_shots),
            classes,
            config.shots,
            ", ".join(f"{name} ({count})" for name, count in list(data.fewer_shots.items())[:10]),
        )
        return
    name, count = min(data.fewer_shots.items(), key=lambda item: item[1])
    others = f" (and {len(data.fewer_shots) - 1} more of its {classes} classes have fewer than {config.shots})"
    raise ConfigError(
        f"--shots {config.shots}: the class {name!r} of {data.splits.name} has only {count} training image(s)"
        f"{others if len(data.fewer_shots) > 1 else ''}. Pass --shots {count} or less, or --set "
        "data.shots_policy=available to train each class on as many as it has (the run record lists those classes)."
    )


def load_evaluation(
    evaluation: Evaluation,
    root: str | Path,
    backbone: CLIPBackbone,
    skip_corrupt: bool = False,
    splits: DatasetSplits | None = None,
) -> tuple[DatasetSplits, Any]:
    """The class subset of ``evaluation.dataset`` and a test-transform dataset of its split."""
    if splits is None or splits.name != evaluation.dataset:
        splits = build_dataset(evaluation.dataset, resolve_root(root, evaluation.dataset))
    chosen = subsample_classes(splits, evaluation.subset)
    items = {"test": chosen.test, "val": chosen.val, "train": chosen.train}.get(evaluation.split)
    if items is None:
        raise ConfigError(f"--split {evaluation.split!r} is not one of test, val, train")
    if not items:
        raise DataError(
            f"{evaluation.dataset} has no {evaluation.split} images to evaluate on; choose another --split."
        )
    _, test_tf, _ = transforms_of(backbone)
    return chosen, image_dataset(items, test_tf, skip_corrupt)


def eval_loader(dataset: Any, batch_size: int, num_workers: int, dist: DistInfo, pin_memory: bool) -> DataLoader:
    return DataLoader(
        dataset,
        batch_size=batch_size,
        sampler=ShardSampler(len(dataset), dist.rank, dist.world_size),
        num_workers=num_workers,
        pin_memory=pin_memory,
    )


def skipped_images(*datasets: Any) -> int:
    """Corrupt images the datasets skipped (counted by the data package when skip_corrupt is on)."""
    return sum(int(getattr(d, "skipped_count", 0) or 0) for d in datasets if d is not None)
