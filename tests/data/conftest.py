"""Fixtures for the data tests: a session-wide miniature of all 15 datasets and a per-test factory."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

import pytest

from tests.data.synthetic import Miniature, make_miniature


@pytest.fixture(scope="session")
def mini(tmp_path_factory: pytest.TempPathFactory) -> Miniature:
    """All 15 datasets under one root. Shared: tests must not modify it (use ``make_mini`` for that)."""
    return make_miniature(tmp_path_factory.mktemp("mini_root"))


@pytest.fixture
def make_mini(tmp_path: Path) -> Callable[..., Miniature]:
    """Build a private miniature (some datasets) that the test may damage."""

    def build(names: Iterable[str] | None = None, root: Path | None = None) -> Miniature:
        return make_miniature(root or tmp_path / "data", names)

    return build
