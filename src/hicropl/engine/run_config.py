"""The typed run configuration: what is trained, on which data, and how (optimiser, schedule, loop).

A run's YAML has one section per dataclass below plus a ``method`` section whose ``name`` picks a
registered method and whose other keys are that method's config fields. ``load_run_config`` merges
defaults < YAML file < command-line flags < dotted ``--set`` overrides and validates everything;
``run_config_to_dict`` gives the resolved form written to ``config.yaml``.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import torch
import yaml

from hicropl.errors import ConfigError
from hicropl.methods.base import MethodConfig, get_method_class
from hicropl.precision import Precision, resolve_precision
from hicropl.typed_config import apply_overrides, from_dict, require, to_dict


@dataclass
class OptimConfig:
    """Optimiser recipe; the defaults are the official HiCroPL recipe."""

    name: Literal["adam", "sgd"] = "adam"
    lr: float = 0.0025
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = 1e-3
    momentum: float = 0.9
    nesterov: bool = False
    weight_decay: float = 5e-4
    # "coupled": L2 added to the gradient (torch Adam/SGD weight_decay); "decoupled": AdamW-style.
    weight_decay_mode: Literal["coupled", "decoupled"] = "coupled"
    # The official traces need the single-tensor Adam; None lets torch choose.
    foreach: bool | None = False

    def __post_init__(self) -> None:
        require(self.lr > 0, "optim.lr", f"must be positive, got {self.lr}")
        require(self.eps > 0, "optim.eps", f"must be positive, got {self.eps}")
        require(
            len(self.betas) == 2 and all(0 <= b < 1 for b in self.betas),
            "optim.betas",
            f"needs two values in [0, 1), got {list(self.betas)}",
        )
        require(self.weight_decay >= 0, "optim.weight_decay", f"must be >= 0, got {self.weight_decay}")
        require(self.momentum >= 0, "optim.momentum", f"must be >= 0, got {self.momentum}")


@dataclass
class ScheduleConfig:
    """Learning-rate schedule: warm-up, then cosine (or constant) decay."""

    name: Literal["cosine", "constant"] = "cosine"
    warmup_epochs: int = 1
    # "constant": warmup_lr throughout the warm-up (the official recipe); "linear": warmup_lr -> lr.
    warmup_type: Literal["constant", "linear"] = "constant"
    warmup_lr: float = 1e-5
    min_lr: float = 0.0
    # The cosine period in epochs; None = train.epochs (Dassl: the period ignores the warm-up).
    period_epochs: int | None = None
    step_per: Literal["epoch", "step"] = "epoch"

    def __post_init__(self) -> None:
        require(self.warmup_epochs >= 0, "sched.warmup_epochs", f"must be >= 0, got {self.warmup_epochs}")
        require(self.warmup_lr >= 0, "sched.warmup_lr", f"must be >= 0, got {self.warmup_lr}")
        require(
            self.period_epochs is None or self.period_epochs > 0,
            "sched.period_epochs",
            f"must be positive, got {self.period_epochs}",
        )


def default_num_workers() -> int:
    """min(4, the CPUs this process may use): torch's DataLoader warns above that CPU count."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return min(4, cpus)


@dataclass
class TrainConfig:
    """The training loop."""

    epochs: int = 50
    batch_size: int = 32  # global: split over DDP processes
    eval_batch_size: int = 500
    grad_accum: int = 1
    # auto: bf16 on a GPU that has it, else fp32; bf16 is honoured on the CPU when asked for (see precision.py)
    precision: Precision = "auto"
    selection: Literal["last", "best_val"] = "last"
    # Data-loader worker processes; the default, min(4, CPUs), avoids torch's warning on small machines.
    num_workers: int = field(default_factory=default_num_workers)
    device: str = "auto"
    tensorboard: bool = False
    skip_corrupt: bool = False
    # Cache the frozen image features of evaluation images on disk and reuse them across runs.
    feature_cache: bool = True
    prefetch_factor: int = 4  # batches each loader worker prepares ahead (with num_workers > 0)
    # Recompute the prompted image tower's activations in the backward pass: less memory, ~30% more time.
    gradient_checkpointing: bool = False
    # Run the CLIP encoders in the authors' operation order (no reordering fast path), for any method:
    # the numbers then agree element by element with the authors' code; slower. See CLIPBackbone.
    reference_order: bool = False
    compile: bool = False  # torch.compile the method for training (first steps are slow while it compiles)
    compile_backend: str = "inductor"
    # CPU runs on Linux: keep freed activation memory mapped (see engine/host_allocator.py).
    tune_host_allocator: bool = True

    def __post_init__(self) -> None:
        require(self.epochs >= 0, "train.epochs", f"must be >= 0, got {self.epochs}")
        require(self.batch_size > 0, "train.batch_size", f"must be positive, got {self.batch_size}")
        require(self.eval_batch_size > 0, "train.eval_batch_size", f"must be positive, got {self.eval_batch_size}")
        require(self.grad_accum >= 1, "train.grad_accum", f"must be >= 1, got {self.grad_accum}")
        require(self.num_workers >= 0, "train.num_workers", f"must be >= 0, got {self.num_workers}")
        require(self.prefetch_factor >= 1, "train.prefetch_factor", f"must be >= 1, got {self.prefetch_factor}")


@dataclass
class DataConfig:
    dataset: str = ""
    root: str = ""  # the folder that holds every dataset folder
    protocol: str = "base2novel"  # base2novel, fewshot, cross_dataset, domain_generalization (or an alias)
    shots: int = 16  # 0 or negative = the full training set
    # "exact": a training class with fewer than `shots` images is an error; "available": such classes
    # train on all they have (the run record lists them with their counts).
    shots_policy: Literal["exact", "available"] = "exact"
    # Datasets evaluated (all classes, test split) after training; None = the protocol's targets
    # (cross-dataset: the 10 other datasets, domain generalisation: the 4 ImageNet variants).
    targets: tuple[str, ...] | None = None


@dataclass
class RunConfig:
    """Everything that defines a run; ``method`` is resolved separately (its fields depend on its name)."""

    method_name: str
    method: MethodConfig
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    sched: ScheduleConfig = field(default_factory=ScheduleConfig)
    seed: int = 1
    clip: str = ""  # weights file or open_clip tag (``ViT-B-16:openai``)
    # How reports name this run's method; empty = method[-variant]. Lets ablations of one method
    # (say HiCroPL without its consistency loss) appear as their own rows.
    label: str = ""

    @property
    def variant(self) -> str | None:
        return self.method.variant_name()


_SECTIONS = {"data": DataConfig, "train": TrainConfig, "optim": OptimConfig, "sched": ScheduleConfig}
_SCALARS = {"seed": int, "clip": str, "label": str}


def read_yaml(path: str | Path, relative_to: str | Path | None = None) -> dict[str, Any]:
    """A config YAML given by path or by the name of a shipped config (see :mod:`hicropl.engine.config_files`)."""
    from hicropl.engine.config_files import resolve_config_file

    file = resolve_config_file(path, relative_to)
    try:
        data = yaml.safe_load(file.read_text("utf-8")) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"Config file {file} is not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"Config file {file} must hold a mapping of sections (method, data, train, ...).")
    return data


def _canonical_names(data: DataConfig) -> None:
    """Registered spellings (``eurosat`` -> ``EuroSAT``), so run folders and reports group runs alike."""
    from hicropl.data.protocols import get_protocol
    from hicropl.data.registry import dataset_reference

    try:
        data.protocol = get_protocol(data.protocol).name
    except ConfigError as exc:
        raise ConfigError(f"data.protocol (--protocol): {exc}") from exc
    try:
        if data.dataset:
            data.dataset = dataset_reference(data.dataset)
        if data.targets is not None:
            data.targets = tuple(dataset_reference(name) for name in data.targets)
    except ConfigError as exc:
        raise ConfigError(f"data.dataset (--dataset): {exc}") from exc


def _method_section(data: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    section = data.get("method")
    if isinstance(section, str):
        section = {"name": section}
    if section is None:
        section = {}
    if not isinstance(section, Mapping):
        raise ConfigError(f"method must be a mapping with a `name` and that method's fields, not {section!r}")
    fields = dict(section)
    name = fields.pop("name", None)
    if not name:
        raise ConfigError("No method given: pass --method NAME or set method.name in the --config file.")
    return str(name), fields


def build_run_config(data: Mapping[str, Any]) -> RunConfig:
    """Validate a plain nested mapping (the YAML form) into a :class:`RunConfig`."""
    known = ["method", *_SECTIONS, *_SCALARS]
    for key in data:
        if key not in known:
            close = difflib.get_close_matches(str(key), known, n=2)
            hint = f" Did you mean {', '.join(close)}?" if close else ""
            raise ConfigError(f"Unknown config section {key!r}.{hint} Known: {', '.join(known)}")
    name, fields = _method_section(data)
    cls = get_method_class(name)
    method_config = from_dict(cls.config_class, fields, prefix="method.")
    sections: dict[str, Any] = {}
    for key, section_cls in _SECTIONS.items():
        value = data.get(key) or {}
        if not isinstance(value, Mapping):
            raise ConfigError(f"{key} must be a mapping of {section_cls.__name__} fields, not {value!r}")
        sections[key] = from_dict(section_cls, value, prefix=f"{key}.")
    scalars = from_dict(_Scalars, {k: data[k] for k in _SCALARS if k in data})
    _canonical_names(sections["data"])
    return RunConfig(
        method_name=cls.name,
        method=method_config,
        seed=scalars.seed,
        clip=scalars.clip,
        label=scalars.label,
        **sections,
    )


# The largest seed. Generators seeded from it (seed * 100003 + epoch in engine/seeding.py) must fit
# torch's 64-bit seeds; 32 bits, the usual bound (NumPy's), leaves room and is what the CLI documents.
MAX_SEED = 2**32 - 1


@dataclass
class _Scalars:
    seed: int = 1
    clip: str = ""
    label: str = ""

    def __post_init__(self) -> None:
        require(0 <= self.seed <= MAX_SEED, "seed", f"must be a whole number from 0 to {MAX_SEED}, got {self.seed}")


def load_run_config(
    config_file: str | Path | Mapping[str, Any] | None = None,
    flags: Mapping[str, Any] | None = None,
    overrides: Iterable[str] = (),
) -> RunConfig:
    """defaults < ``config_file`` (a path or its parsed content) < ``flags`` (dotted keys, None = not given)
    < ``overrides`` (``key=value``)."""
    if isinstance(config_file, Mapping):
        data: dict[str, Any] = apply_overrides(config_file, [])
    else:
        data = read_yaml(config_file) if config_file else {}
    if isinstance(data.get("method"), str):
        data["method"] = {"name": data["method"]}
    given = {key: value for key, value in (flags or {}).items() if value is not None}
    new_method = given.get("method.name")
    old_method = (data.get("method") or {}).get("name")
    if new_method and old_method and new_method != old_method and len(data["method"]) > 1:
        where = "the config file" if isinstance(config_file, Mapping) else config_file
        raise ConfigError(
            f"--method {new_method} conflicts with method.name {old_method} in {where}, whose method "
            f"section holds {old_method}'s fields; drop --method or pass a config file for {new_method}."
        )
    data = apply_overrides(data, [])
    for key, value in given.items():
        _set_dotted(data, key, list(value) if isinstance(value, tuple) else value)
    data = apply_overrides(data, overrides)
    return build_run_config(data)


def _set_dotted(data: dict[str, Any], key: str, value: Any) -> None:
    *parents, leaf = key.split(".")
    node = data
    for part in parents:
        node = node.setdefault(part, {})
    node[leaf] = value


def run_config_to_dict(config: RunConfig) -> dict[str, Any]:
    return {
        "method": {"name": config.method_name, **to_dict(config.method)},
        "data": to_dict(config.data),
        "train": to_dict(config.train),
        "optim": to_dict(config.optim),
        "sched": to_dict(config.sched),
        "seed": config.seed,
        "clip": config.clip,
        "label": config.label,
    }


def resolved_run_config(config: RunConfig, device: torch.device) -> RunConfig:
    """``config`` as it runs on ``device``: what config.yaml records (the device and precision that ran)."""
    train = replace(config.train, device=str(device), precision=resolve_precision(config.train.precision, device))
    return replace(config, train=train)


def dump_run_config(config: RunConfig) -> str:
    return yaml.safe_dump(run_config_to_dict(config), sort_keys=False)
