from __future__ import annotations

import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parents[1]
for folder in (TESTS / "engine", TESTS / "data"):
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))

import engine_testkit  # noqa: E402,F401  (registers the test-only method "test_head")
from synthetic import make_miniature  # noqa: E402


@pytest.fixture(scope="session")
def mini_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The data engineer's miniatures of the datasets the CLI tests use (read-only)."""
    names = ["EuroSAT", "DescribableTextures", "ImageNet", "ImageNetV2", "ImageNetSketch"]
    return make_miniature(tmp_path_factory.mktemp("mini"), names).root


@pytest.fixture(autouse=True)
def _no_env_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HICROPL_CLIP", raising=False)
    monkeypatch.delenv("HICROPL_DATA", raising=False)
