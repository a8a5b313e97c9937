"""Pretraining: an interrupted run resumes to exactly the weights of an uninterrupted one."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from hicropl.clip.load import load_clip
from hicropl.errors import CheckpointError
from hicropl.toyworld.pretrain import CHECKPOINT_NAME, RECORD_NAME, TOYWORLD_CLIP_CONFIG, pretrain

TINY = {"steps": 4, "seed": 3, "batch_size": 4, "pool_size": 8, "checkpoint_every": 2, "progress": False}


class Stop(KeyboardInterrupt):
    pass


def _stop_at(step: int):
    def callback(done: int, loss: float) -> None:
        assert loss == loss  # finite, not NaN
        if done == step:
            raise Stop

    return callback


def test_interrupted_pretraining_resumes_exactly(tmp_path: Path) -> None:
    straight = pretrain(tmp_path / "straight", **TINY)

    resumed_dir = tmp_path / "resumed"
    with pytest.raises(Stop):
        pretrain(resumed_dir, **TINY, on_step=_stop_at(2))
    assert (resumed_dir / CHECKPOINT_NAME).is_file()
    assert not (resumed_dir / "toyworld_clip.safetensors").exists()
    steps_seen: list[int] = []
    resumed = pretrain(resumed_dir, **TINY, on_step=lambda step, loss: steps_seen.append(step))
    assert steps_seen == [3, 4]  # it continued from the checkpoint of step 2

    a, b = load_file(str(straight)), load_file(str(resumed))
    assert a.keys() == b.keys()
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=0, atol=0, msg=key)
    assert (resumed_dir / RECORD_NAME).is_file()


def test_resume_with_other_settings_is_refused(tmp_path: Path) -> None:
    with pytest.raises(Stop):
        pretrain(tmp_path, **TINY, on_step=_stop_at(2))
    with pytest.raises(CheckpointError, match="other settings"):
        pretrain(tmp_path, **{**TINY, "seed": 4})


def test_exported_weights_load_with_inferred_architecture(tmp_path: Path) -> None:
    weights = pretrain(tmp_path, **{**TINY, "steps": 1})
    backbone = load_clip(weights)
    assert backbone.config["text_cfg"]["context_length"] == TOYWORLD_CLIP_CONFIG["text_cfg"]["context_length"]
    assert backbone.tokenizer.context_length == 32
    assert backbone.vision_layers == backbone.text_layers == 4
    assert load_file(str(weights))["visual.conv1.weight"].dtype == torch.float16
