"""``hicropl runs`` and ``hicropl show``, and the run states they read (run_state.json or older folders)."""

from __future__ import annotations

import datetime as dt
import json
import shlex
import socket

import pytest

from hicropl.cli import build_parser
from hicropl.results.run_list import format_age, list_runs
from hicropl.results.run_status import run_status
from tests.cli.cli_helpers import run_cli, train_args
from tests.results.run_folders import b2n_scores, write_run


def _state(folder, **fields):
    folder.mkdir(parents=True, exist_ok=True)
    state = {"state": "running", "pid": 4242, "host": "node-7", "updated": "2025-01-01T00:00:00Z", "command": "train"}
    (folder / "run_state.json").write_text(json.dumps({**state, "signal": None, "error": None, **fields}))
    return folder


def test_run_states_from_run_state_json_and_older_folders(tmp_path):
    here = socket.gethostname()
    dead = _state(tmp_path / "dead", host=here)
    assert run_status(dead, alive=lambda pid: False).state == "interrupted (stale)"
    assert run_status(dead, alive=lambda pid: True).state == "running"
    elsewhere = _state(tmp_path / "elsewhere")  # another host's pid cannot be checked from here
    assert run_status(elsewhere, alive=lambda pid: False).describe() == "running: pid 4242 on node-7"
    assert run_status(elsewhere).updated == dt.datetime(2025, 1, 1, tzinfo=dt.timezone.utc)
    signal = _state(tmp_path / "signal", state="interrupted", signal="SIGTERM")
    assert run_status(signal).describe() == "interrupted: signal SIGTERM"
    assert run_status(_state(tmp_path / "failed", state="failed", error="NaN loss")).describe() == "failed: NaN loss"
    garbled = tmp_path / "garbled"
    garbled.mkdir()
    (garbled / "run_state.json").write_text("{half a file")
    (garbled / "checkpoint.pt").write_bytes(b"")
    assert run_status(garbled).state == "interrupted"  # falls back to the files
    (garbled / "result.json").write_text("{}")
    assert run_status(garbled).state == "finished"
    bare = tmp_path / "bare"
    bare.mkdir()
    (bare / "config.yaml").write_text("seed: 1\n")
    assert run_status(bare).state == "unknown"


def test_ages():
    assert [format_age(s) for s in (5, 125, 7300, 3 * 86400 + 5)] == ["5s", "2m", "2h", "3d"]


def test_runs_lists_every_run_folder_with_its_state_and_headline(tmp_path, capsys):
    root = tmp_path / "runs"
    write_run(root / "b2n", "hicropl", "EuroSAT", "base2novel", 1, b2n_scores("EuroSAT", 80.0, 60.0), variant="paper")
    write_run(root / "fs", "coop", "Food101", "fewshot", 2, {"Food101": 71.25}, shots=4, label="coop-ctx4")
    running = _state(root / "running", host="node-7")
    (running / "config.yaml").write_text(
        "method: {name: maple}\ndata: {dataset: UCF101, protocol: fewshot, shots: 8}\n"
    )
    (running / "metrics.jsonl").write_text('{"epoch": 1}\n{"epoch": 2}\n')
    b2n = next(e for e in list_runs(root) if e.dataset == "EuroSAT")
    assert (b2n.protocol, b2n.method, b2n.shots, b2n.seed, b2n.headline) == (
        "base2novel",
        "hicropl-paper",
        "16",
        "1",
        "HM 68.57",
    )
    code, out, err = run_cli(capsys, "runs", root)
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].split() == ["protocol", "method", "dataset", "shots", "seed", "status", "headline", "age", "folder"]
    assert lines[1].split()[:6] == ["base2novel", "hicropl-paper", "EuroSAT", "16", "1", "finished"]
    assert lines[2].split()[:8] == ["fewshot", "coop-ctx4", "Food101", "4", "2", "finished", "acc", "71.25"]
    assert lines[3].split()[:6] == ["fewshot", "maple", "UCF101", "8", "?", "running"] and "epoch 2" in lines[3]
    assert [line.split()[-1] for line in lines[1:]] == ["b2n", "fs", "running"]

    (tmp_path / "empty").mkdir()
    code, _, err = run_cli(capsys, "runs", tmp_path / "empty")
    assert code == 2 and "No run folders found in" in err and err.count("\n") == 1


def test_show_summarises_a_run_and_its_command_reproduces_it(tmp_path, capsys, mini_root, tiny_checkpoint):
    run = tmp_path / "runs" / "seed1"
    code, _, err = run_cli(capsys, *train_args(run, mini_root, tiny_checkpoint))
    assert code == 0, err
    result = json.loads((run / "result.json").read_text())

    code, out, err = run_cli(capsys, "show", run)
    assert code == 0, err
    assert out.startswith(f"Run {run}\n  base2novel, test_head, EuroSAT, 2 shots, seed 1\n  status: finished")
    assert "  train.epochs: 1 (default 50)" in out and "  data.shots: 2 (default 16)" in out
    assert f"  summary: base {result['summary']['base']:.2f}" in out
    assert f"Checkpoint: {run / 'checkpoint.pt'} (" in out

    command = out.split("Reproduce:\n", 1)[1].strip()
    assert command.startswith("hicropl train --config ")
    code, _, err = run_cli(capsys, *shlex.split(command)[1:], "--quiet")
    assert code == 0, err
    again = json.loads((tmp_path / "runs" / "seed1-again" / "result.json").read_text())
    assert again["summary"] == pytest.approx(result["summary"])

    code, _, err = run_cli(capsys, "show", tmp_path / "runs")
    assert code == 2 and "is not a run folder" in err


def test_show_without_a_known_method_or_config_still_summarises(tmp_path, capsys):
    run = write_run(tmp_path / "r", "coop", "EuroSAT", "base2novel", 1, b2n_scores("EuroSAT", 80.0, 60.0))
    code, out, _ = run_cli(capsys, "show", run)
    assert code == 0 and "  train.epochs: 5 (default 50)" in out and "Checkpoint: none" in out
    (run / "config.yaml").write_text("method: {name: no_such_method}\n")
    code, out, _ = run_cli(capsys, "show", run)
    assert code == 0 and "cannot tell:" in out and "EuroSAT (base): 80.00" in out


def test_runs_and_show_are_commands_with_examples():
    parser = build_parser()
    commands = next(a for a in parser._actions if a.dest == "command").choices
    for name in ("runs", "show"):
        assert "examples:" in commands[name].format_help()


def test_runs_says_when_a_result_is_unreadable_or_an_import_is_not_evaluated(tmp_path):
    broken = write_run(tmp_path / "broken", "coop", "EuroSAT", "base2novel", 1, {})
    (broken / "result.json").write_text("{cut short")
    imported = write_run(tmp_path / "imported", "maple", "EuroSAT", "base2novel", 1, {}, label="maple-authors")
    result = json.loads((imported / "result.json").read_text())
    (imported / "result.json").write_text(json.dumps({**result, "imported_from": {"file": "model.pth.tar-5"}}))
    entries = {e.path.name: e for e in list_runs(tmp_path)}
    assert entries["broken"].status.state == "unreadable" and entries["broken"].method == "coop"
    assert entries["imported"].headline == "not evaluated" and entries["imported"].method == "maple-authors"
    (imported / "evals").mkdir()
    (imported / "evals" / "EuroSAT_base.json").write_text(json.dumps({"name": "EuroSAT (base)", "accuracy": 80.0}))
    (imported / "evals" / "EuroSAT_novel.json").write_text(json.dumps({"name": "EuroSAT (novel)", "accuracy": 60.0}))
    assert next(e for e in list_runs(tmp_path) if e.path.name == "imported").headline == "HM 68.57"
