"""--overwrite validates before it destroys: the old run stays until the new one has started."""

from __future__ import annotations

import json

from tests.cli.cli_helpers import run_cli, train_args


def _snapshot(run):
    return {p.relative_to(run).as_posix(): p.read_bytes() for p in sorted(run.rglob("*")) if p.is_file()}


def test_overwrite_that_fails_before_the_run_starts_keeps_the_old_run(tmp_path, capsys, data_root, tiny_checkpoint):
    run = tmp_path / "run"
    code, _, err = run_cli(capsys, *train_args(run, data_root, tiny_checkpoint))
    assert code == 0, err
    code, _, err = run_cli(capsys, "eval", run, "--subset", "novel", "--quiet")
    assert code == 0, err
    finished = _snapshot(run)
    assert {"result.json", "checkpoint.pt", "evals/EuroSAT_novel.json", "run_state.json"} <= set(finished)

    # cuda:99 fails where the device is resolved (no CUDA) or used (a GPU machine): after the old run moved aside
    code, _, err = run_cli(capsys, *train_args(run, data_root, tiny_checkpoint, "--overwrite", "--device", "cuda:99"))
    assert code != 0 and "cuda:99" in err
    assert _snapshot(run) == finished
    assert not list(tmp_path.glob("run.replaced-*"))

    code, _, err = run_cli(capsys, *train_args(run, data_root, tiny_checkpoint, "--overwrite"))
    assert code == 0, err
    assert not (run / "evals").exists() and not list(tmp_path.glob("run.replaced-*"))
    assert "Deleted the run this one replaces (--overwrite)" in (run / "log.txt").read_text()
    assert json.loads((run / "run_state.json").read_text())["state"] == "finished"


def test_a_killed_overwrite_leaves_the_old_run_aside_and_the_next_run_says_where(
    tmp_path, capsys, data_root, tiny_checkpoint
):
    run = tmp_path / "run"
    aside = tmp_path / "run.replaced-20260101-000000-1"
    aside.mkdir()
    (aside / "result.json").write_text("{}")
    code, _, err = run_cli(capsys, *train_args(run, data_root, tiny_checkpoint))
    assert code == 0, err
    assert f"{aside} holds a run that an interrupted --overwrite replaced" in (run / "log.txt").read_text()
    assert (aside / "result.json").is_file()
