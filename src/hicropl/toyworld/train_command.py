"""The ``hicropl train`` command line that reproduces a run config (the demo prints one per run)."""

from __future__ import annotations

import shlex
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

import yaml

if TYPE_CHECKING:
    from hicropl.engine.run_config import RunConfig


def _leaves(data: Mapping[str, Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    for key, value in data.items():
        if isinstance(value, Mapping):
            yield from _leaves(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}", value


def _yaml_value(value: Any) -> str:
    """``value`` as ``--set`` parses it back (YAML flow style, one line)."""
    if isinstance(value, tuple):
        value = list(value)
    text = yaml.safe_dump(value, default_flow_style=True, width=10**6).strip()
    return text.removesuffix("...").strip()


def train_command(config: RunConfig) -> str:
    """A shell command that trains ``config``: its method, dataset, protocol, shots, seed, data root and
    CLIP as flags, and every field that differs from that method's defaults as ``--set key=value``.
    Without ``--output`` it writes to the default run folder under ``./runs``."""
    from hicropl.engine.run_config import load_run_config, run_config_to_dict

    flags = {
        "method.name": config.method_name,
        "data.dataset": config.data.dataset,
        "data.protocol": config.data.protocol,
        "data.shots": config.data.shots,
        "seed": config.seed,
        "data.root": config.data.root,
        "clip": config.clip,
    }
    defaults = dict(_leaves(run_config_to_dict(load_run_config(None, flags))))
    changed = [(key, value) for key, value in _leaves(run_config_to_dict(config)) if defaults.get(key) != value]
    words = ["hicropl", "train", "--method", config.method_name, "--dataset", config.data.dataset]
    words += ["--protocol", config.data.protocol, "--shots", str(config.data.shots), "--seed", str(config.seed)]
    words += ["--data-root", config.data.root, "--clip", config.clip]
    for key, value in changed:
        words += ["--set", f"{key}={_yaml_value(value)}"]
    return shlex.join(words)
