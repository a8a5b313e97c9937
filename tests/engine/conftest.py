from __future__ import annotations

from pathlib import Path

import pytest

from tests.engine.engine_testkit import make_eurosat


@pytest.fixture(scope="session")
def data_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_eurosat(tmp_path_factory.mktemp("data"))
