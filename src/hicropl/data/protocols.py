"""The paper's four evaluation protocols, as data.

A protocol says which datasets are trained on (with which shots, seeds and class subset) and what
is evaluated after training: the training dataset's class subsets, then each target dataset.
The engine expands it for one run (``planned_evaluations``); ``hicropl sweep`` into runs.
"""

from __future__ import annotations

from dataclasses import dataclass

from hicropl.data.datasets.builtin import BUILTIN_SPECS
from hicropl.data.naming import name_key, suggestion
from hicropl.data.subsample import normalize_subset
from hicropl.errors import ConfigError

# The datasets are the built-in ones, in the paper's order: ImageNet's variants are the ImageNet-family
# datasets other than ImageNet itself, the recognition datasets are all the others.
IMAGENET_VARIANTS: tuple[str, ...] = tuple(
    spec.name for spec in BUILTIN_SPECS if spec.imagenet_family and spec.name != "ImageNet"
)
RECOGNITION_DATASETS: tuple[str, ...] = tuple(spec.name for spec in BUILTIN_SPECS if spec.name not in IMAGENET_VARIANTS)
DEFAULT_SEEDS: tuple[int, ...] = (1, 2, 3)


class UnknownProtocolError(ConfigError):
    """A protocol name that matches none of the four protocols."""


@dataclass(frozen=True)
class Protocol:
    """A protocol of the paper.

    ``eval_targets`` empty means "evaluate on the training dataset itself"; otherwise the source
    dataset is evaluated first, then each target.
    """

    name: str
    title: str
    train_datasets: tuple[str, ...]
    eval_targets: tuple[str, ...]
    shots_options: tuple[int, ...]
    class_subset_train: str
    eval_subsets: tuple[str, ...]
    aliases: tuple[str, ...] = ()
    seeds: tuple[int, ...] = DEFAULT_SEEDS

    def __post_init__(self) -> None:
        normalize_subset(self.class_subset_train)
        for subset in self.eval_subsets:
            normalize_subset(subset)
        if not self.shots_options or any(k < 1 for k in self.shots_options):
            raise ConfigError(f"protocol {self.name}: shots_options must be positive integers")


BASE2NOVEL = Protocol(
    name="base2novel",
    title="Base-to-novel generalization",
    train_datasets=RECOGNITION_DATASETS,
    eval_targets=(),
    shots_options=(16,),
    class_subset_train="base",
    eval_subsets=("base", "new"),
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
