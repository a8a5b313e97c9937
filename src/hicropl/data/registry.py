"""Datasets by name: the 15 built-ins plus anything other modules register.

Lookup ignores case and punctuation and knows CoOp's aliases, so ``OxfordPets``, ``oxford_pets``
and ``pets`` all work; an unknown name gets a "did you mean" from difflib.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import TypeGuard

from hicropl.data.naming import name_key, suggestion
from hicropl.data.spec import DEFAULT_TEMPLATE, DatasetSpec
from hicropl.data.types import DatasetSplits
from hicropl.errors import ConfigError, DataError

_SPECS: dict[str, DatasetSpec] = {}
_KEYS: dict[str, str] = {}
_OWN: dict[str, str] = {}  # folder:/csv: reference -> the name it was registered under
_builtins_loaded = False


class UnknownDatasetError(ConfigError):
    """A dataset name that no registered dataset answers to."""


def _ensure_builtins() -> None:
    global _builtins_loaded
    if _builtins_loaded:
        return
    _builtins_loaded = True
    from hicropl.data.datasets.builtin import BUILTIN_SPECS
    from hicropl.data.toyworld.datasets import TOYWORLD_SPECS  # generated, not downloaded: see hicropl demo

    for spec in (*BUILTIN_SPECS, *TOYWORLD_SPECS):
        register_dataset(spec)


def register_dataset(spec: DatasetSpec, *, overwrite: bool = False) -> DatasetSpec:
    """Make a dataset available by its name and aliases; returns the spec.

    A name or alias already taken by another dataset raises ConfigError unless ``overwrite`` is
    set, in which case the previous dataset of that name is replaced entirely.
    """
    _ensure_builtins()
    keys = {name_key(spec.name), *(name_key(alias) for alias in spec.aliases)}
    if "" in keys:
        raise ConfigError(f"dataset names and aliases need letters or digits: {spec.name!r} {spec.aliases!r}")
    clashes = {_KEYS[k] for k in keys if k in _KEYS}
    if clashes and not overwrite:
        raise ConfigError(
            f"cannot register dataset {spec.name!r}: its name or aliases are taken by {sorted(clashes)}; "
            "choose other names or pass overwrite=True"
        )
    for owner in clashes:
        unregister_dataset(owner)
    _SPECS[spec.name] = spec
    for key in keys:
        _KEYS[key] = spec.name
    return spec


def unregister_dataset(name: str) -> None:
    """Remove a registered dataset (by any of its names). Mainly for tests and plugins."""
    spec = get_dataset_spec(name)
    del _SPECS[spec.name]
    for key in [k for k, owner in _KEYS.items() if owner == spec.name]:
        del _KEYS[key]
    for reference in [r for r, owner in _OWN.items() if owner == spec.name]:
        del _OWN[reference]


def _own_dataset(reference: str) -> DatasetSpec | None:
    """The spec of ``folder:PATH``/``csv:FILE`` (registered on first use), or None for other names.

    It is registered under the data's readable name, or that name plus a digest of the path when
    another dataset already has the name, so two folders called ``images`` never mix.
    """
    from hicropl.data.datasets.own import own_dataset_spec, parse_reference

    source = parse_reference(reference)
    if source is None:
        return None
    known = _OWN.get(source.reference)
    if known in _SPECS:
        return _SPECS[known]
    name = source.readable_name
    if name_key(name) in _KEYS:
        name = f"{name}-{hashlib.sha256(source.reference.encode('utf-8')).hexdigest()[:8]}"
    spec = register_dataset(own_dataset_spec(source, name))
    _OWN[source.reference] = spec.name
    return spec


def get_dataset_spec(name: str) -> DatasetSpec:
    """The spec registered under ``name`` or one of its aliases (case and punctuation ignored), or of
    the user's data for ``folder:PATH`` and ``csv:FILE`` (see ``hicropl.data.datasets.own``)."""
    _ensure_builtins()
    own = _own_dataset(name)
    if own is not None:
        return own
    owner = _KEYS.get(name_key(name))
    if owner is None:
        candidates = [*_SPECS, *(alias for spec in _SPECS.values() for alias in spec.aliases)]
        raise UnknownDatasetError(
            f"unknown dataset {name!r}{suggestion(name, candidates)}. Known datasets: {', '.join(_SPECS)}"
        )
    return _SPECS[owner]


def _registered(name: str | None) -> DatasetSpec | None:
    try:
        return get_dataset_spec(name) if name else None
    except UnknownDatasetError:
        return None


def dataset_reference(name: str) -> str:
    """What a config records for dataset ``name``: the registered name, or for the user's data the
    absolute ``folder:``/``csv:`` reference, which finds the data again in any process."""
    spec = get_dataset_spec(name)
    for reference, registered in _OWN.items():
        if registered == spec.name:
            return reference
    return spec.name


def needs_data_root(name: str) -> bool:
    """False for datasets whose folder is an absolute path (the user's data): they need no data root."""
    return not Path(get_dataset_spec(name).folder).is_absolute()


def canonical_dataset_name(name: str | None) -> str | None:
    """The registered name of dataset ``name`` (aliases resolved: ``dtd`` -> ``DescribableTextures``),
    or None for no name or an unregistered one; for tables keyed by dataset name."""
    spec = _registered(name)
    return None if spec is None else spec.name


def dataset_template(name: str | None) -> str:
    """CoOp's hand-crafted prompt for dataset ``name``; CLIP's generic one for classes of no registered dataset."""
    spec = _registered(name)
    return DEFAULT_TEMPLATE if spec is None else spec.template


def in_imagenet_family(name: str | None) -> TypeGuard[str]:
    """Whether ``name`` is a registered dataset whose classes are ImageNet's (see ``DatasetSpec``)."""
    spec = _registered(name)
    return spec is not None and spec.imagenet_family


def list_datasets() -> list[str]:
    """Canonical names of all registered datasets, built-ins first in the paper's order."""
    _ensure_builtins()
    return list(_SPECS)


def dataset_dir(name: str, root: str | Path) -> Path:
    """The folder of dataset ``name`` under the data root (where CoOp's few-shot cache lives too)."""
    return get_dataset_spec(name).dataset_dir(root)


def build_dataset(name: str, root: str | Path, *, check_files: bool = True) -> DatasetSplits:
    """Read dataset ``name`` from ``root/<its folder>``.

    Raises DataError naming the missing path and where to get the data when the root, the dataset
    folder, a split file or listed images are missing. ``check_files=False`` skips the per-image
    existence check of split-file datasets (``check_data_root`` counts missing images instead).
    """
    spec = get_dataset_spec(name)
    root_path = Path(root).expanduser()
    if not root_path.is_dir() and needs_data_root(name):
        raise DataError(
            f"the data root {root_path.absolute()} does not exist or is not a folder; create it and put the "
            "datasets in it as described in DATASETS.md, or pass the folder that holds them"
        )
    folder = spec.dataset_dir(root_path)
    if not folder.is_dir() and needs_data_root(name):  # the user's data: its reader names what is missing
        raise DataError(
            f"{spec.name}: the dataset folder {folder} is missing. {spec.source}. Expected layout:\n{spec.layout}"
        )
    return spec.reader(folder, check_files)
