from __future__ import annotations

from pathlib import Path

import pytest
import torch

from hicropl.clip.random import TINY_CLIP_CONFIG, random_clip


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    # Tests never read or write the user's ~/.cache/hicropl.
    monkeypatch.setenv("HICROPL_CACHE", str(tmp_path_factory.mktemp("hicropl_cache")))


@pytest.fixture(scope="session")
def tiny_backbone():
    torch.set_num_threads(max(1, torch.get_num_threads()))
    return random_clip(TINY_CLIP_CONFIG, seed=0)


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory: pytest.TempPathFactory, tiny_backbone) -> Path:
    """The tiny CLIP saved as a plain OpenAI-format state dict, loadable through load_clip."""
    path = tmp_path_factory.mktemp("weights") / "tiny_clip.pt"
    torch.save(tiny_backbone.model.state_dict(), path)
    return path
