"""The run folder after faults: torn metrics repaired, killed writes' temp files removed, files readable
by colleagues (the umask), and a failed run's log.txt and run_state.json saying why."""

from __future__ import annotations

import json
import os
import stat
import time
from pathlib import Path

import pytest

from hicropl.atomic import host_name
from hicropl.data import build_dataset, few_shot_split
from hicropl.engine.run import train
from hicropl.errors import TrainingInterrupted, exit_code_of
from hicropl.results.run_folder import read_run_state
from tests.engine.engine_testkit import tiny_run_config
from tests.reliability.test_run_lock import _dead_pid


def _metrics(folder: Path) -> list[dict]:
    return [{k: v for k, v in json.loads(x).items() if k != "seconds"} for x in (folder / "metrics.jsonl").open()]


def _stop_at(step: int):
    def stop(state):
        if state.global_step == step:
            raise KeyboardInterrupt

    return stop


def test_a_torn_last_metrics_line_is_dropped_on_resume(tmp_path, data_root, tiny_checkpoint):
    config = tiny_run_config(data_root, tiny_checkpoint)  # 2 epochs of 2 steps
    train(config, tmp_path / "reference", quiet=True, progress=False)
    folder = tmp_path / "run"
    with pytest.raises(TrainingInterrupted):
        train(config, folder, quiet=True, progress=False, step_callbacks=[_stop_at(3)])
    with open(folder / "metrics.jsonl", "a") as handle:
        handle.write('{"epoch": 2, "lr": 0.00')  # a write cut off by a kill
    train(config, folder, quiet=True, progress=False)
    assert _metrics(folder) == _metrics(tmp_path / "reference")
    assert "Dropped the torn last line of" in (folder / "log.txt").read_text()


def _temp(folder: Path, target: str, pid: int, host: str | None = None) -> Path:
    path = folder / f".{target}.{pid}@{host or host_name()}.0badc0de.tmp"
    path.write_text("partial")
    return path


def test_killed_writes_temp_files_are_removed_at_the_next_start(tmp_path, data_root, tiny_checkpoint):
    folder = tmp_path / "run"
    (folder / "evals").mkdir(parents=True)
    dead, legacy = _temp(folder, "checkpoint.pt", _dead_pid()), folder / ".result.json.k3j4h5g6.tmp"
    legacy.write_text("partial")
    evals = _temp(folder / "evals", "EuroSAT.json", _dead_pid())
    mine = _temp(folder, "config.yaml", os.getpid())  # a live pid: still an orphan, as the lock is held
    keep = folder / "notes.tmp"  # not a temp file of the library
    keep.write_text("mine")
    train(tiny_run_config(data_root, tiny_checkpoint, "train.epochs=1"), folder, quiet=True, progress=False)
    assert not any(p.exists() for p in (dead, legacy, evals, mine)) and keep.exists()
    assert f"Removed {dead.name}, left by a write that was killed." in (folder / "log.txt").read_text()


def test_a_cache_folder_loses_only_orphaned_temp_files(tmp_path, data_root):
    cache = tmp_path / "cache"
    (cache / "fewshot").mkdir(parents=True)
    old = time.time() - 2 * 24 * 3600
    dead = _temp(cache / "fewshot", "x.json", _dead_pid())
    live = _temp(cache / "fewshot", "y.json", os.getpid())  # another process writing this cache right now
    foreign = _temp(cache / "fewshot", "z.json", 1, "elsewhere")
    foreign_old = _temp(cache / "fewshot", "w.json", 1, "elsewhere")
    os.utime(foreign_old, (old, old))
    few_shot_split(build_dataset("EuroSAT", data_root), 2, seed=1, cache_dir=cache)
    assert (dead.exists(), live.exists(), foreign.exists(), foreign_old.exists()) == (False, True, True, False)


@pytest.mark.parametrize(("umask", "mode"), [(0o022, 0o644), (0o077, 0o600)])
def test_files_follow_the_umask(tmp_path, data_root, tiny_checkpoint, umask, mode):
    previous = os.umask(umask)
    try:
        train(
            tiny_run_config(data_root, tiny_checkpoint, "train.epochs=1"), tmp_path / "run", quiet=True, progress=False
        )
    finally:
        os.umask(previous)
    cache = Path(os.environ["HICROPL_CACHE"])
    files = [p for root in (tmp_path / "run", cache) for p in root.rglob("*") if p.is_file()]
    assert len(files) >= 9
    assert {p.name: oct(stat.S_IMODE(p.stat().st_mode)) for p in files} == {p.name: oct(mode) for p in files}


def test_a_failed_run_ends_its_log_with_the_console_line_and_records_it(tmp_path, data_root, tiny_checkpoint, capsys):
    folder = tmp_path / "run"
    config = tiny_run_config(data_root, tiny_checkpoint, "train.epochs=1", "method.nan_after=1")
    assert exit_code_of(lambda: train(config, folder, quiet=True, progress=False) and 0) == 2
    line = capsys.readouterr().err.strip()
    assert line.startswith("error: The loss became nan at epoch 1, step 2")
    assert (folder / "log.txt").read_text().splitlines()[-1].endswith(f" ERROR hicropl: {line}")
    state = read_run_state(folder)
    assert state is not None and (state.state, state.command, state.pid) == ("failed", "train", os.getpid())
    assert state.error == line.removeprefix("error: ") and state.host == host_name() and state.signal is None


def test_run_state_follows_the_run(tmp_path, data_root, tiny_checkpoint):
    folder = tmp_path / "run"
    seen = []
    config = tiny_run_config(data_root, tiny_checkpoint, "train.epochs=1")
    train(config, folder, quiet=True, progress=False, step_callbacks=[lambda s: seen.append(read_run_state(folder))])
    assert {s.state for s in seen} == {"running"} and seen[0].command == "train"
    finished = read_run_state(folder)
    assert finished is not None and finished.state == "finished" and finished.error is None
    assert json.loads((folder / "run_state.json").read_text()).keys() == {
        "state",
        "pid",
        "host",
        "updated",
        "command",
        "signal",
        "error",
    }
