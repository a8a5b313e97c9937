"""SIGTERM and SIGUSR1 (what SLURM sends) and Ctrl-C in every phase: a checkpoint where one is due, a
line on the console and in log.txt naming the signal, a distinct exit code, and an exact resume."""

from __future__ import annotations

import json
import os
import signal

import pytest

import hicropl.engine.run as run_module
from hicropl.engine.run import train
from hicropl.errors import TrainingInterrupted, exit_code_of
from hicropl.results.run_folder import read_run_state
from tests.engine.engine_testkit import tiny_run_config
from tests.reliability import child_run
from tests.reliability.child_run import TINY
from tests.reliability.outcomes import outcome_of


def _state(folder):
    saved = json.loads((folder / "run_state.json").read_text())
    return saved["state"], saved["signal"], saved["command"]


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGTERM, 143), (signal.SIGUSR1, 138)], ids=["TERM", "USR1"])
def test_signal_checkpoints_at_the_next_step_and_resumes_exactly(
    tmp_path, data_root, tiny_checkpoint, reference, signum, code
):
    run, cache, name = tmp_path / "run", tmp_path / "cache", signal.Signals(signum).name
    child = child_run.start(run, data_root, tiny_checkpoint, cache, "--pause-at-step", "6")
    child.wait_ready()
    child.send(signum)
    child.resume()
    assert child.join() == code
    log = (run / "log.txt").read_text()
    assert f"{name}: stopping after the current step, with a checkpoint" in log
    assert log.splitlines()[-1].endswith(
        f"interrupted: Interrupted by {name} after epoch 2, step 2; a resumable checkpoint was written to "
        f"{run / 'checkpoint.pt'}. Rerun the same command to resume."
    )
    assert _state(run) == ("interrupted", name, "train")
    assert not (run / "result.json").exists()

    assert child_run.start(run, data_root, tiny_checkpoint, cache).join() == 0
    assert "Resuming at epoch 2, step 2" in (run / "log.txt").read_text()  # the partial epoch is not redone
    assert outcome_of(run).differences(reference) == []
    assert _state(run) == ("finished", None, "train")


def _sigint_inside(monkeypatch, evaluation_name):
    """Ctrl-C arrives while ``evaluate`` runs for ``evaluation_name`` (the first time only)."""
    real, sent = run_module.evaluate, []

    def evaluate(*args, **kwargs):
        if args[6] == evaluation_name and not sent:
            sent.append(True)
            os.kill(os.getpid(), signal.SIGINT)
        return real(*args, **kwargs)

    monkeypatch.setattr(run_module, "evaluate", evaluate)
    return sent


@pytest.fixture(scope="module")
def one_epoch(tmp_path_factory, data_root, tiny_checkpoint):
    """The config of the Ctrl-C tests (one epoch of the tiny run) and its uninterrupted result."""
    config = tiny_run_config(data_root, tiny_checkpoint, *TINY, "train.epochs=1")
    return config, train(config, tmp_path_factory.mktemp("one_epoch") / "run", quiet=True, progress=False)


def test_ctrl_c_during_the_last_validation_stops_after_it(tmp_path, one_epoch, monkeypatch):
    config, reference = one_epoch
    folder = tmp_path / "run"
    sent = _sigint_inside(monkeypatch, "val")
    with pytest.raises(TrainingInterrupted, match=r"Ctrl-C \(SIGINT\) after the end of epoch 1") as raised:
        train(config, folder, quiet=True, progress=False)
    assert sent and raised.value.exit_code == 130
    assert not (folder / "result.json").exists()
    assert read_run_state(folder).signal == "SIGINT"
    resumed = train(config, folder, quiet=True, progress=False)  # nothing left to train: evaluates
    assert resumed["evaluations"] == reference["evaluations"]
    assert "Resuming at epoch 2, step 0" in (folder / "log.txt").read_text()


def test_ctrl_c_during_the_final_test_stops_and_the_rerun_only_evaluates(tmp_path, one_epoch, monkeypatch, capsys):
    config, reference = one_epoch
    folder = tmp_path / "run"
    _sigint_inside(monkeypatch, "EuroSAT (novel)")
    code = exit_code_of(lambda: train(config, folder, quiet=True, progress=False) and 0)
    err = capsys.readouterr().err
    assert code == 130 and "Traceback" not in err
    line = err.strip()
    assert line.startswith("interrupted: Stopped by Ctrl-C (SIGINT) while evaluating the trained model")
    assert f"it is saved in {folder / 'checkpoint.pt'}" in line
    assert (folder / "log.txt").read_text().splitlines()[-1].endswith(line)
    assert not (folder / "result.json").exists()
    resumed = train(config, folder, quiet=True, progress=False)
    assert resumed["evaluations"] == reference["evaluations"]
    assert resumed["training"]["optimizer_steps"] == reference["training"]["optimizer_steps"]
