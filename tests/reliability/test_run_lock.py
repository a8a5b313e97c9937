"""One process per run folder: the second gets one line naming the holder; stale locks are taken over."""

from __future__ import annotations

import json
import os
import socket
import time
from pathlib import Path

import pytest

from hicropl.atomic import host_name
from hicropl.engine.distributed import DistInfo
from hicropl.engine.run import train
from hicropl.engine.run_lock import RunFolderBusy, run_folder_lock
from hicropl.errors import exit_code_of
from hicropl.results.run_folder import RunFolder
from tests.cli.cli_helpers import run_cli
from tests.engine.engine_testkit import tiny_run_config
from tests.reliability import child_run
from tests.reliability.child_run import TINY
from tests.reliability.outcomes import outcome_of


def _dead_pid() -> int:
    pid = 2**22 - 1
    while True:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return pid
        pid -= 1


def test_a_second_run_on_a_folder_in_use_is_refused_and_the_first_is_unharmed(
    tmp_path, data_root, tiny_checkpoint, reference, capsys
):
    run, cache = tmp_path / "run", tmp_path / "cache"
    child = child_run.start(run, data_root, tiny_checkpoint, cache, "--pause-at-step", "5")
    child.wait_ready()
    before = (run / "metrics.jsonl").read_text()
    other = tiny_run_config(data_root, tiny_checkpoint, *TINY, "optim.lr=0.5")  # other settings, like the issue's
    code = exit_code_of(lambda: train(other, run, quiet=True, progress=False) and 0)
    err = capsys.readouterr().err.strip()
    assert code == 2 and "\n" not in err
    assert err.startswith(f"error: The run folder {run} is in use by pid {child.process.pid} on {host_name()} ")
    assert "hicropl train" in err and "wait for it to end or choose another --output" in err
    code, _, err = run_cli(capsys, "eval", run)  # eval waits its turn too (here: the run is not finished)
    assert code == 2
    assert (run / "metrics.jsonl").read_text() == before
    child.resume()
    assert child.join() == 0
    assert outcome_of(run).differences(reference) == []
    assert not (run / "run.lock").exists()  # released on exit


def test_the_lock_of_a_dead_process_is_taken_over_with_a_message(tmp_path, data_root, tiny_checkpoint):
    folder = tmp_path / "run"
    folder.mkdir()
    record = {"pid": _dead_pid(), "host": host_name(), "command": "train", "started": "2026-01-01T00:00:00+00:00"}
    (folder / "run.lock").write_text(json.dumps(record))
    train(tiny_run_config(data_root, tiny_checkpoint, "train.epochs=1"), folder, quiet=True, progress=False)
    log = (folder / "log.txt").read_text()
    assert f"Took over the lock of {folder} left by pid {record['pid']} on {host_name()}" in log


def test_without_file_locks_a_dead_holder_on_this_host_is_taken_over_and_a_live_one_refuses(tmp_path, monkeypatch):
    import errno

    import hicropl.engine.run_lock as run_lock

    def no_locks(fd, operation):
        raise OSError(errno.ENOLCK, "No locks available")

    monkeypatch.setattr(run_lock.fcntl, "flock", no_locks)
    folder = RunFolder.at(tmp_path / "run")
    folder.path.mkdir()
    dead = {"pid": _dead_pid(), "host": host_name(), "command": "train", "started": "t"}
    folder.lock.write_text(json.dumps(dead))
    with run_folder_lock(folder, "eval") as lock:
        assert lock is not None and lock.took_over is not None and lock.took_over.pid == dead["pid"]
        assert json.loads(folder.lock.read_text())["pid"] == os.getpid()
        with pytest.raises(RunFolderBusy, match=f"pid {os.getpid()} on {host_name()}"), run_folder_lock(folder, "eval"):
            pass
    assert not folder.lock.exists()
    elsewhere = {"pid": 1, "host": "another-" + socket.gethostname()[:20], "command": "train", "started": "t"}
    folder.lock.write_text(json.dumps(elsewhere))
    with (
        pytest.raises(RunFolderBusy, match=r"If that process is gone, delete .*run\.lock"),
        run_folder_lock(folder, "eval"),
    ):
        pass


def _ddp_rank(rank: int, port: int, folder: str, out: str) -> None:
    import torch.distributed as dist

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE="2")
    dist.init_process_group("gloo", rank=rank, world_size=2)
    info = DistInfo(rank, 2, rank)
    outcome = []
    for _ in range(2):  # the first time the folder is locked by the test, the second time it is free
        try:
            with run_folder_lock(RunFolder.at(folder), "train", info) as lock:
                outcome.append("locked" if lock is not None else "entered")
                dist.barrier()
        except RunFolderBusy as exc:
            outcome.append(f"busy: {exc}")
        dist.barrier()
        if rank == 0 and not outcome[1:]:  # the test releases its lock, then says so
            open(f"{out}.turn", "w").close()
            while not os.path.exists(f"{out}.released"):
                time.sleep(0.01)
        dist.barrier()
    with open(f"{out}.{rank}", "w") as handle:
        json.dump(outcome, handle)
    dist.destroy_process_group()


def test_under_ddp_rank_0_locks_and_every_rank_learns_the_outcome(tmp_path):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    folder, out = RunFolder.at(tmp_path / "run"), str(tmp_path / "out")
    with run_folder_lock(folder, "train"):
        ranks = [child_run.start_function(_ddp_rank, rank, port, str(folder.path), out) for rank in (0, 1)]
        deadline = time.monotonic() + 120
        while not os.path.exists(f"{out}.turn") and time.monotonic() < deadline:
            time.sleep(0.01)
    open(f"{out}.released", "w").close()
    for process in ranks:
        process.join(120)
        assert process.exitcode == 0
    zero, one = (json.loads(Path(f"{out}.{rank}").read_text()) for rank in (0, 1))
    assert zero[0].startswith(f"busy: The run folder {folder.path} is in use by pid {os.getpid()}")
    assert one[0] == f"busy: The main process could not lock the run folder {folder.path} (see its message)."
    assert (zero[1], one[1]) == ("locked", "entered")
