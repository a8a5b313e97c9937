"""The demo: engine run folders that ``hicropl report`` reads, a table, and clear output-folder rules."""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

import pytest

from hicropl.data.toyworld.datasets import ToyDataset
from hicropl.results.report import make_report
from hicropl.toyworld.demo import DEMO_FILE, LOCK_FILE, DemoError, run_demo


def _demo(output: Path, root: Path, dataset: ToyDataset, **kwargs):
    stream = io.StringIO()
    options = {"shots": 1, "seeds": [1], "methods": ["zeroshot", "hicropl-paper"], "epochs": 1}
    options.update(kwargs)
    result = run_demo(output, datasets=[dataset], data_root=root, progress=False, stream=stream, **options)
    return result, stream.getvalue()


def test_demo_runs_through_the_engine_and_resumes(tmp_path: Path, mini_root: Path, mini_glyphs: ToyDataset) -> None:
    output = tmp_path / "new" / "demo"  # missing: created
    result, text = _demo(output, mini_root, mini_glyphs)
    assert "Creating the output folder" in text
    assert "| Dataset | Method | Seeds | Base | Novel | HM |" in result.table
    assert {row["method"] for row in result.rows} == {"zeroshot", "hicropl-paper"}
    assert all((run / "result.json").is_file() for run in result.runs)
    record = json.loads((output / DEMO_FILE).read_text("utf-8"))
    assert record["status"] == "finished" and len(record["rows"]) == 2
    report = make_report([output / "runs"])
    assert report.runs == 2 and not report.problems
    assert not (output / LOCK_FILE).exists()

    again, text = _demo(output, mini_root, mini_glyphs)  # same settings: finished runs are reused
    assert "already finished" in text and again.table == result.table

    with pytest.raises(DemoError, match=r"other settings.*shots"):
        _demo(output, mini_root, mini_glyphs, shots=2)


def test_foreign_or_busy_output_folders_are_refused(tmp_path: Path, mini_root: Path, mini_glyphs: ToyDataset) -> None:
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine", encoding="utf-8")
    with pytest.raises(DemoError, match=r"not empty.*holds no hicropl demo"):
        _demo(foreign, mini_root, mini_glyphs)
    assert (foreign / "notes.txt").read_text("utf-8") == "mine"

    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / LOCK_FILE).write_text(json.dumps({"pid": os.getpid(), "host": os.uname().nodename}), encoding="utf-8")
    with pytest.raises(DemoError, match=f"busy: another demo \\(process {os.getpid()}"):
        _demo(busy, mini_root, mini_glyphs)

    file = tmp_path / "file"
    file.write_text("x", encoding="utf-8")
    with pytest.raises(DemoError, match="is a file"):
        _demo(file, mini_root, mini_glyphs)


def test_each_run_prints_the_train_command_that_reproduces_its_config(
    tmp_path: Path, mini_root: Path, mini_glyphs: ToyDataset
) -> None:
    import shlex

    import torch
    import yaml

    from hicropl.cli import build_parser
    from hicropl.cli.common import run_config
    from hicropl.engine.run_config import dump_run_config, resolved_run_config

    result, text = _demo(tmp_path / "demo", mini_root, mini_glyphs)
    commands = [line.split("rerun by hand: ", 1)[1] for line in text.splitlines() if "rerun by hand: " in line]
    assert len(commands) == len(result.runs) == 2
    for command, run in zip(commands, result.runs, strict=True):
        words = shlex.split(command)
        assert (
            words[:2] == ["hicropl", "train"] and "--clip" in words and words[words.index("--clip") + 1] == "toyworld"
        )
        args = build_parser().parse_args(words[1:])
        # config.yaml records what ran (device, precision): resolve the command's config the same way.
        rebuilt = yaml.safe_load(
            dump_run_config(resolved_run_config(run_config(args, args.method), torch.device("cpu")))
        )
        assert rebuilt == yaml.safe_load((run / "config.yaml").read_text("utf-8"))
