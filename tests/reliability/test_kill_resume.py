"""SIGKILL at chosen points of a tiny run, then the same command: it ends exactly as an uninterrupted run."""

from __future__ import annotations

from tests.reliability import child_run
from tests.reliability.outcomes import outcome_of

# Where each process of the chain is killed (the run has 2 epochs of 4 steps and validates each epoch).
KILL_POINTS = [
    ("--pause-at-step", "3"),  # mid-epoch 1: no checkpoint yet
    ("--pause-before-replace", "checkpoint.pt:1"),  # epoch 1's checkpoint written, not yet renamed into place
    ("--pause-before-replace", "checkpoint.pt.sha256:2"),  # renamed, its checksum still lists the old file too
    ("--pause-in-validation", "1"),  # epoch 2's validation (the resumed run validates once)
    ("--pause-before-replace", "result.json:1"),  # trained and tested, result.json not yet in place
]


def test_kill_chain_resumes_to_identical_numbers(tmp_path, data_root, tiny_checkpoint, reference):
    run, cache = tmp_path / "run", tmp_path / "cache"
    for point in KILL_POINTS:
        child = child_run.start(run, data_root, tiny_checkpoint, cache, *point)
        child.wait_ready()
        assert child.kill() == -9, point
        assert not (run / "result.json").exists(), point
    child = child_run.start(run, data_root, tiny_checkpoint, cache)
    assert child.join() == 0
    assert outcome_of(run).differences(reference) == []
    assert not [p.name for p in run.iterdir() if p.name.endswith(".tmp")]
    assert "Took over the lock" in (run / "log.txt").read_text()
