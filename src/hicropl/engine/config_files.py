"""Where a ``--config`` / ``--file`` name points: a file on disk, else a config shipped with the package.

The shipped configs live in ``hicropl/configs/`` inside the installed package, so ``--config
hicropl/base2novel`` (or ``hicropl/base2novel.yaml``) works from any working directory. An existing
file always wins over a shipped name; ``configs/hicropl/base2novel.yaml``, the path in a source
checkout before the configs moved into the package, names the same shipped file.
"""

from __future__ import annotations

import difflib
from importlib import resources
from pathlib import Path

from hicropl.errors import ConfigError

SUFFIXES = (".yaml", ".yml")
LEGACY_PREFIX = "configs/"  # the folder the configs shipped in at the repository root


def packaged_configs_dir() -> Path:
    """The folder of the shipped configs inside the installed package."""
    return Path(str(resources.files("hicropl").joinpath("configs")))


def packaged_config_names() -> list[str]:
    """Every shipped config as the name ``--config`` takes (``hicropl/base2novel``), sorted."""
    root = packaged_configs_dir()
    return sorted(p.relative_to(root).with_suffix("").as_posix() for p in root.rglob("*.yaml"))


def packaged_config(name: str) -> Path | None:
    """The shipped file called ``name`` (with or without ``.yaml``, or under ``configs/``), or None."""
    key = name.replace("\\", "/").strip("/")
    if key.startswith(LEGACY_PREFIX):
        key = key[len(LEGACY_PREFIX) :]
    for suffix in SUFFIXES:
        if key.endswith(suffix):
            key = key[: -len(suffix)]
    if not key or ".." in key.split("/"):
        return None
    file = packaged_configs_dir() / f"{key}.yaml"
    return file if file.is_file() else None


def resolve_config_file(name: str | Path, relative_to: str | Path | None = None) -> Path:
    """The config file ``name`` refers to: an existing file (a relative path taken against
    ``relative_to``, e.g. a sweep file's folder, else against the working directory), else the shipped
    config of that name. Raises a ConfigError naming both places and the closest shipped names."""
    path = Path(name).expanduser()
    if relative_to is not None and not path.is_absolute():
        path = Path(relative_to) / path
    if path.is_file():
        return path
    shipped = packaged_config(str(name))
    if shipped is not None:
        return shipped
    names = packaged_config_names()
    close = difflib.get_close_matches(str(name).removesuffix(".yaml"), names, n=3, cutoff=0.5)
    hint = f" Did you mean {', '.join(close)}?" if close else ""
    raise ConfigError(
        f"Config file {path.absolute()} does not exist; check the --config path. No config shipped with hicropl "
        f"is named {str(name)!r} either.{hint} Shipped names look like hicropl/base2novel ({len(names)} of them, "
        f"in {packaged_configs_dir()})."
    )
