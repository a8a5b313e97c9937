"""Typed configuration: dataclasses built from plain mappings, validated field by field.

Every config in the library is a dataclass. ``from_dict`` builds one from YAML/JSON data and checks
each value against the field's annotation (``Literal`` choices, numbers, strings, tuples, nested
dataclasses); ``apply_overrides`` applies dotted ``key=value`` overrides from the command line. Errors
name the bad field and what it accepts.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import types
import typing
from collections.abc import Iterable, Mapping
from typing import Any, Literal, TypeVar, get_args, get_origin, get_type_hints

import yaml

from hicropl.errors import ConfigError

T = TypeVar("T")


def _describe(annotation: Any) -> str:
    origin = get_origin(annotation)
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in get_args(annotation))
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_describe(a) for a in get_args(annotation))
    if annotation is type(None):
        return "null"
    if origin in (tuple, list):
        return f"a list of {_describe(get_args(annotation)[0])}" if get_args(annotation) else "a list"
    return getattr(annotation, "__name__", str(annotation))


def _coerce(value: Any, annotation: Any, where: str) -> Any:
    origin = get_origin(annotation)
    if annotation is Any:
        return value
    if origin is Literal:
        choices = get_args(annotation)
        if value in choices:
            return value
        raise ConfigError(f"{where} = {value!r} is not allowed; choose {_describe(annotation)}")
    if origin in (typing.Union, types.UnionType):
        options = get_args(annotation)
        if value is None and type(None) in options:
            return None
        for option in options:
            if option is type(None):
                continue
            try:
                return _coerce(value, option, where)
            except ConfigError:
                continue
        raise ConfigError(f"{where} = {value!r} is not valid; expected {_describe(annotation)}")
    if isinstance(annotation, type) and dataclasses.is_dataclass(annotation):
        if isinstance(value, annotation):
            return value
        if not isinstance(value, Mapping):
            raise ConfigError(f"{where} must be a mapping of {annotation.__name__} fields, not {value!r}")
        return from_dict(annotation, value, prefix=f"{where}.")
    if origin in (tuple, list):
        if isinstance(value, str) or not isinstance(value, Iterable):
            raise ConfigError(f"{where} = {value!r} must be {_describe(annotation)}")
        args = get_args(annotation)
        item_type = args[0] if args else Any
        items = [_coerce(item, item_type, f"{where}[{i}]") for i, item in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if origin is dict:
        if not isinstance(value, Mapping):
            raise ConfigError(f"{where} must be a mapping, not {value!r}")
        return dict(value)
    if annotation is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(f"{where} = {value!r} must be true or false")
    if annotation is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        raise ConfigError(f"{where} = {value!r} must be an integer")
    if annotation is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):
            # YAML 1.1 reads 1e-3 (no dot) as a string; accept any plain decimal number written out.
            try:
                number = float(value)
            except ValueError:
                number = None
            if number is not None and math.isfinite(number):
                return number
        raise ConfigError(f"{where} = {value!r} must be a number")
    if annotation is str:
        if isinstance(value, str):
            return value
        raise ConfigError(f"{where} = {value!r} must be a string")
    return value


def from_dict(cls: type[T], data: Mapping[str, Any] | None, prefix: str = "") -> T:
    """Build dataclass ``cls`` from ``data``, rejecting unknown keys and ill-typed values."""
    data = dict(data or {})
    hints = get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls) if f.init]  # type: ignore[arg-type]
    unknown = [key for key in data if key not in names]
    if unknown:
        key = unknown[0]
        close = difflib.get_close_matches(key, names, n=3)
        hint = f" Did you mean {', '.join(prefix + c for c in close)}?" if close else ""
        raise ConfigError(f"Unknown config field {prefix}{key} for {cls.__name__}.{hint} Known: {', '.join(names)}")
    kwargs = {key: _coerce(value, hints[key], prefix + key) for key, value in data.items()}
    try:
        return cls(**kwargs)
    except ConfigError:
        raise
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{cls.__name__}: {exc}") from exc


def to_dict(config: Any) -> dict[str, Any]:
    """Plain-data view of a config dataclass (tuples become lists), for YAML and JSON."""

    def plain(value: Any) -> Any:
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
        if isinstance(value, (list, tuple)):
            return [plain(v) for v in value]
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        return value

    return plain(config)


def parse_override(text: str) -> tuple[str, Any]:
    """``"optim.lr=0.001"`` -> ``("optim.lr", 0.001)``; the value is parsed as YAML."""
    if "=" not in text:
        raise ConfigError(f"Override {text!r} must look like key=value, e.g. optim.lr=0.001")
    key, raw = text.split("=", 1)
    key = key.strip()
    if not key:
        raise ConfigError(f"Override {text!r} has an empty key")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError as exc:
        raise ConfigError(f"Override {text!r}: cannot parse the value ({exc})") from exc
    return key, value


def apply_overrides(data: Mapping[str, Any], overrides: Iterable[str]) -> dict[str, Any]:
    """Return a copy of nested ``data`` with dotted overrides applied (validation happens in from_dict)."""
    result: dict[str, Any] = _deep_copy(data)
    for text in overrides:
        key, value = parse_override(text)
        node = result
        parts = key.split(".")
        for part in parts[:-1]:
            child = node.get(part)
            if child is None:
                child = node[part] = {}
            if not isinstance(child, dict):
                raise ConfigError(f"Override {text!r}: {part} is a value, not a section")
            node = child
        node[parts[-1]] = value
    return result


def _deep_copy(data: Mapping[str, Any]) -> dict[str, Any]:
    return {k: _deep_copy(v) if isinstance(v, Mapping) else v for k, v in data.items()}


def require(condition: bool, field: str, message: str) -> None:
    """Validation helper for ``__post_init__``: raise ConfigError naming ``field``."""
    if not condition:
        raise ConfigError(f"{field}: {message}")
