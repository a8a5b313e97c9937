"""Kill a run mid-epoch, rerun it: the resumed run ends exactly where an uninterrupted one does."""

from __future__ import annotations

import json

import pytest
import torch

from hicropl.engine.run import train
from hicropl.errors import ConfigError, TrainingInterrupted
from tests.engine.engine_testkit import tiny_run_config


def _metrics(folder):
    lines = (folder / "metrics.jsonl").read_text().splitlines()
    return [{k: v for k, v in json.loads(line).items() if k != "seconds"} for line in lines]


def test_interrupted_run_resumes_to_identical_results(tmp_path, data_root, tiny_checkpoint):
    # Dropout draws from the global RNG, best_val validates every epoch, and the resumed run uses
    # data-loader workers while the reference does not: all of it must line up exactly.
    overrides = ("train.epochs=3", "train.selection=best_val", "sched.step_per=step")
    reference = train(
        tiny_run_config(data_root, tiny_checkpoint, *overrides), tmp_path / "a", quiet=True, progress=False
    )

    def stop_after_three_steps(state):
        if state.global_step == 3:
            raise KeyboardInterrupt

    folder = tmp_path / "b"
    with pytest.raises(TrainingInterrupted, match=r"epoch 2, step 1.*Rerun the same command"):
        train(
            tiny_run_config(data_root, tiny_checkpoint, *overrides),
            folder,
            quiet=True,
            progress=False,
            step_callbacks=[stop_after_three_steps],
        )
    saved = torch.load(folder / "checkpoint.pt", weights_only=True)
    assert (saved["train_state"]["epoch"], saved["train_state"]["step"], saved["finished"]) == (1, 1, False)
    assert not (folder / "result.json").exists()

    with pytest.raises(ConfigError, match=r"unfinished run with other settings.*optim\.lr"):
        train(
            tiny_run_config(data_root, tiny_checkpoint, *overrides, "optim.lr=0.1"), folder, quiet=True, progress=False
        )

    resumed = train(
        tiny_run_config(data_root, tiny_checkpoint, *overrides, "train.num_workers=2"),
        folder,
        quiet=True,
        progress=False,
    )
    assert resumed["evaluations"] == reference["evaluations"]
    assert resumed["selection"] == reference["selection"]
    assert _metrics(folder) == _metrics(tmp_path / "a")
    a = torch.load(tmp_path / "a" / "checkpoint.pt", weights_only=True)
    b = torch.load(folder / "checkpoint.pt", weights_only=True)
    for key, value in a["method"].items():
        assert torch.equal(value, b["method"][key]), key
    assert a["train_state"]["global_step"] == b["train_state"]["global_step"] == 6
    assert "Resuming at epoch 2, step 1" in (folder / "log.txt").read_text()
