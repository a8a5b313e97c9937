"""The paper's four evaluation protocols, as data the training engine can iterate over.

A protocol says which datasets are trained on (with which shots and class subset) and, for each
training dataset, which (dataset, class subset) pairs are evaluated. ``runs()`` expands it into
the concrete (train dataset, shots, seed) jobs.
"""

from __future__ import annotations

from dataclasses import dataclass

from hicropl.data.naming import name_key, suggestion
from hicropl.data.subsample import normalize_subset
from hicropl.errors import ConfigError

RECOGNITION_DATASETS: tuple[str, ...] = (
    "ImageNet",
    "Caltech101",
    "OxfordPets",
    "StanfordCars",
    "OxfordFlowers",
    "Food101",
    "FGVCAircraft",
    "SUN397",
    "DescribableTextures",
    "EuroSAT",
    "UCF101",
)
IMAGENET_VARIANTS: tuple[str, ...] = ("ImageNetV2", "ImageNetSketch", "ImageNetA", "ImageNetR")
DEFAULT_SEEDS: tuple[int, ...] = (1, 2, 3)


class UnknownProtocolError(ConfigError):
    """A protocol name that matches none of the four protocols."""


@dataclass(frozen=True)
class EvalTarget:
    """One evaluation: ``dataset`` restricted to ``subset`` ("all", "base" or "new"), reported as ``label``."""

    dataset: str
    subset: str
    label: str


@dataclass(frozen=True)
class Run:
    """One training job of a protocol."""

    protocol: str
    train_dataset: str
    shots: int
    seed: int
    class_subset: str


@dataclass(frozen=True)
class Protocol:
    """A protocol of the paper.

    ``eval_targets`` empty means "evaluate on the training dataset itself"; otherwise the source
    dataset is evaluated first, then each target. ``model_selection`` is "best_val" (the epoch with
    the best validation accuracy, as the official code does for in-dataset protocols) or "last"
    (cross-dataset and domain generalization test the last epoch).
    """

    name: str
    title: str
    train_datasets: tuple[str, ...]
    eval_targets: tuple[str, ...]
    shots_options: tuple[int, ...]
    class_subset_train: str
    eval_subsets: tuple[str, ...]
    model_selection: str
    aliases: tuple[str, ...] = ()
    seeds: tuple[int, ...] = DEFAULT_SEEDS

    def __post_init__(self) -> None:
        normalize_subset(self.class_subset_train)
        for subset in self.eval_subsets:
            normalize_subset(subset)
        if not self.shots_options or any(k < 1 for k in self.shots_options):
            raise ConfigError(f"protocol {self.name}: shots_options must be positive integers")
        if self.model_selection not in ("best_val", "last"):
            raise ConfigError(f"protocol {self.name}: model_selection must be 'best_val' or 'last'")

    @property
    def default_shots(self) -> int:
        return max(self.shots_options)

    def _resolve_train(self, train_dataset: str) -> str:
        by_key = {name_key(d): d for d in self.train_datasets}
        key = name_key(train_dataset)
        if key not in by_key:
            # Accept registry aliases ("dtd", "pets") by resolving through the dataset registry.
            from hicropl.data.registry import get_dataset_spec

            try:
                key = name_key(get_dataset_spec(train_dataset).name)
            except ConfigError:
                key = ""
        if key not in by_key:
            raise ConfigError(
                f"protocol {self.name!r} does not train on {train_dataset!r}"
                f"{suggestion(train_dataset, self.train_datasets)}. It trains on: {', '.join(self.train_datasets)}"
            )
        return by_key[key]

    def evaluations(self, train_dataset: str) -> list[EvalTarget]:
        """What to evaluate after training on ``train_dataset``, in reporting order."""
        source = self._resolve_train(train_dataset)
        datasets = (source, *self.eval_targets) if self.eval_targets else (source,)
        return [
            EvalTarget(dataset=d, subset=normalize_subset(s), label=d if s == "all" else f"{d}/{normalize_subset(s)}")
            for d in datasets
            for s in self.eval_subsets
        ]

    def runs(self, seeds: tuple[int, ...] | None = None, shots: tuple[int, ...] | None = None) -> list[Run]:
        """Every (train dataset, shots, seed) job; ``shots``/``seeds`` override the protocol's choices."""
        chosen_shots = shots or self.shots_options
        bad = [k for k in chosen_shots if k not in self.shots_options]
        if bad:
            raise ConfigError(f"protocol {self.name!r} uses shots {self.shots_options}, not {bad}")
        return [
            Run(self.name, dataset, k, seed, normalize_subset(self.class_subset_train))
            for dataset in self.train_datasets
            for k in chosen_shots
            for seed in (seeds or self.seeds)
        ]


BASE2NOVEL = Protocol(
    name="base2novel",
    title="Base-to-novel generalization",
    train_datasets=RECOGNITION_DATASETS,
    eval_targets=(),
    shots_options=(16,),
    class_subset_train="base",
    eval_subsets=("base", "new"),
    model_selection="best_val",
    aliases=("b2n", "base_to_novel", "base-to-novel", "base2new"),
)
FEWSHOT = Protocol(
    name="fewshot",
    title="Few-shot learning",
    train_datasets=RECOGNITION_DATASETS,
    eval_targets=(),
    shots_options=(1, 2, 4, 8, 16),
    class_subset_train="all",
    eval_subsets=("all",),
    model_selection="best_val",
    aliases=("few_shot", "few-shot", "fs"),
)
CROSS_DATASET = Protocol(
    name="cross_dataset",
    title="Cross-dataset transfer",
    train_datasets=("ImageNet",),
    eval_targets=RECOGNITION_DATASETS[1:],
    shots_options=(16,),
    class_subset_train="all",
    eval_subsets=("all",),
    model_selection="last",
    aliases=("xd", "cross-dataset", "crossdataset", "cross_dataset_transfer"),
)
DOMAIN_GENERALIZATION = Protocol(
    name="domain_generalization",
    title="Domain generalization",
    train_datasets=("ImageNet",),
    eval_targets=IMAGENET_VARIANTS,
    shots_options=(16,),
    class_subset_train="all",
    eval_subsets=("all",),
    model_selection="last",
    aliases=("dg", "domain-generalization", "domain_generalisation"),
)

PROTOCOLS: dict[str, Protocol] = {p.name: p for p in (BASE2NOVEL, FEWSHOT, CROSS_DATASET, DOMAIN_GENERALIZATION)}


def list_protocols() -> list[str]:
    return list(PROTOCOLS)


def get_protocol(name: str) -> Protocol:
    """A protocol by name or alias (case and punctuation ignored)."""
    key = name_key(name)
    for protocol in PROTOCOLS.values():
        if key in {name_key(protocol.name), *(name_key(a) for a in protocol.aliases)}:
            return protocol
    candidates = [*PROTOCOLS, *(a for p in PROTOCOLS.values() for a in p.aliases)]
    raise UnknownProtocolError(
        f"unknown protocol {name!r}{suggestion(name, candidates)}. Known: {', '.join(PROTOCOLS)}"
    )
