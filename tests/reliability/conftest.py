from __future__ import annotations

from pathlib import Path

import pytest

from tests.engine.engine_testkit import make_eurosat
from tests.reliability import child_run
from tests.reliability.outcomes import Outcome, outcome_of


@pytest.fixture(scope="session")
def data_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_eurosat(tmp_path_factory.mktemp("data"))


@pytest.fixture(scope="session")
def reference(tmp_path_factory: pytest.TempPathFactory, data_root: Path, tiny_checkpoint: Path) -> Outcome:
    """The tiny child run (child_run.TINY), uninterrupted, in a child process."""
    root = tmp_path_factory.mktemp("reference")
    child = child_run.start(root / "run", data_root, tiny_checkpoint, root / "cache")
    assert child.join() == 0
    return outcome_of(root / "run")
