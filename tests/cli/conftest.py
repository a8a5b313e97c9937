from __future__ import annotations

from pathlib import Path

import pytest

from tests.data.synthetic import make_miniature
from tests.engine.engine_testkit import LearnableHead  # noqa: F401  (importing it registers the method "test_head")


@pytest.fixture(scope="session")
def mini_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The data engineer's miniatures of the datasets the CLI tests use (read-only)."""
    names = ["EuroSAT", "DescribableTextures", "ImageNet", "ImageNetV2", "ImageNetSketch"]
    return make_miniature(tmp_path_factory.mktemp("mini"), names).root


@pytest.fixture(autouse=True)
def _no_env_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HICROPL_CLIP", raising=False)
    monkeypatch.delenv("HICROPL_DATA", raising=False)


@pytest.fixture
def trace_clip(monkeypatch: pytest.MonkeyPatch) -> None:
    """The golden traces' tiny CLIP, loaded with its architecture (tests/cli/authors_checkpoints.py)."""
    from tests.cli.authors_checkpoints import use_trace_clip

    use_trace_clip(monkeypatch)
