"""Name matching shared by the dataset and protocol registries.

Users type dataset names in many spellings (``OxfordPets``, ``oxford_pets``, ``oxford-pets``);
comparing a normalised key makes them all work, and ``difflib`` turns a typo into a suggestion.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable


def name_key(name: str) -> str:
    """Lower-case and drop everything but letters and digits: ``"Oxford_Pets"`` -> ``"oxfordpets"``."""
    return re.sub(r"[^0-9a-z]", "", name.lower())


def closest_names(name: str, candidates: Iterable[str], n: int = 3) -> list[str]:
    """The candidates most similar to ``name`` (compared on normalised keys), best first."""
    by_key: dict[str, str] = {}
    for candidate in candidates:
        by_key.setdefault(name_key(candidate), candidate)
    keys = difflib.get_close_matches(name_key(name), list(by_key), n=n, cutoff=0.5)
    return [by_key[k] for k in keys]


def suggestion(name: str, candidates: Iterable[str]) -> str:
    """A "did you mean" phrase (or an empty string) for error messages."""
    close = closest_names(name, candidates)
    return f" (did you mean {' or '.join(repr(c) for c in close)}?)" if close else ""
