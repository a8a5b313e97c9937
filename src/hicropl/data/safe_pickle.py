"""Read CoOp's few-shot cache pickles without executing anything.

A pickle can call any importable function while loading, so ``pickle.load`` on a file from
someone else's dataset folder is remote code execution. The unpickler here resolves exactly one
global, Dassl's ``Datum`` class, to a passive local stand-in (plus the two helpers that protocol
0/1 pickles use to rebuild plain objects); every other global is refused before it is imported.
"""

from __future__ import annotations

import copyreg
import pickle
from pathlib import Path
from typing import Any

from hicropl.errors import DataError

DASSL_DATUM = ("dassl.data.datasets.base_dataset", "Datum")


class UnsafePickleError(DataError):
    """A pickle refers to something other than Dassl's Datum and plain containers."""


class CoOpDatum:
    """Passive stand-in for ``dassl.data.datasets.base_dataset.Datum``: stores the pickled state only.

    Dassl keeps its fields as ``_impath``, ``_label``...; other versions use ``impath`` or
    ``__slots__``. ``field`` reads any of these spellings.
    """

    def __init__(self) -> None:
        self.state: dict[str, Any] = {}

    def __setstate__(self, state: Any) -> None:
        # Plain objects pickle their __dict__; objects with __slots__ pickle (dict_or_None, slots_dict).
        parts = state if isinstance(state, tuple) else (state,)
        merged: dict[str, Any] = {}
        for part in parts:
            if part is None:
                continue
            if not isinstance(part, dict):
                raise UnsafePickleError(f"unexpected Datum state of type {type(part).__name__}")
            merged.update(part)
        self.state = merged

    def field(self, name: str) -> Any:
        for key in (name, "_" + name):
            if key in self.state:
                return self.state[key]
        raise KeyError(name)


_ALLOWED: dict[tuple[str, str], Any] = {
    DASSL_DATUM: CoOpDatum,
    ("copyreg", "_reconstructor"): copyreg._reconstructor,  # type: ignore[attr-defined]
    ("copy_reg", "_reconstructor"): copyreg._reconstructor,  # type: ignore[attr-defined]
    ("builtins", "object"): object,
    ("__builtin__", "object"): object,
}


class RestrictedUnpickler(pickle.Unpickler):
    """Only Dassl's Datum (mapped to CoOpDatum) and object-rebuilding helpers may be loaded."""

    def find_class(self, module: str, name: str) -> Any:
        allowed = _ALLOWED.get((module, name))
        if allowed is None:
            raise UnsafePickleError(
                f"refusing to load {module}.{name}: a CoOp few-shot cache holds only "
                "dassl.data.datasets.base_dataset.Datum objects in lists and dicts"
            )
        return allowed


def load_restricted(path: Path) -> Any:
    """Unpickle ``path`` with RestrictedUnpickler; any failure names the file and how to proceed."""
    try:
        with open(path, "rb") as handle:
            return RestrictedUnpickler(handle).load()
    except UnsafePickleError as exc:
        raise UnsafePickleError(
            f"{path} is not a plain CoOp few-shot cache and was NOT loaded ({exc}). Delete it if you do not "
            "trust it; hicropl then samples the few-shot split itself"
        ) from None
    except (
        OSError,
        EOFError,
        pickle.UnpicklingError,
        AttributeError,
        TypeError,
        ValueError,
        IndexError,
    ) as exc:
        raise DataError(f"cannot read the few-shot cache {path}: {exc}; delete it to resample") from exc
