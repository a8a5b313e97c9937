"""``hicropl predict`` on a trained run, and ``hicropl sweep`` skipping finished runs."""

from __future__ import annotations

import csv
import io
import json

import pytest

from hicropl.cli import main
from tests.cli.cli_helpers import FAST, run_cli, train_args


@pytest.fixture(scope="module")
def trained(tmp_path_factory, mini_root, tiny_checkpoint):
    run = tmp_path_factory.mktemp("predict") / "run"
    assert main([str(a) for a in train_args(run, mini_root, tiny_checkpoint)]) == 0
    return run


def test_predict_with_the_run_classes_a_list_a_file_and_a_dataset(trained, capsys, mini_root, tmp_path):
    images = mini_root / "eurosat" / "2750" / "Forest"
    code, out, err = run_cli(capsys, "predict", trained, images, "--top-k", "2")
    assert code == 0, err
    rows = json.loads(out)
    assert len(rows) == len(list(images.iterdir()))
    for row in rows:
        assert row["predictions"][0]["class"] in ("Annual Crop Land", "Forest")  # the base classes
        probabilities = [p["probability"] for p in row["predictions"]]
        assert probabilities == sorted(probabilities, reverse=True) and sum(probabilities) == pytest.approx(1.0)

    one = next(images.iterdir())
    code, out, err = run_cli(capsys, "predict", trained, one, "--classes", "river, sea or lake, forest")
    assert code == 0, err
    assert {p["class"] for p in json.loads(out)[0]["predictions"]} == {"river", "sea or lake", "forest"}

    names = tmp_path / "names.txt"
    names.write_text("# classes\nhighway\n\npasture\n")
    target = tmp_path / "preds.csv"
    code, out, err = run_cli(
        capsys, "predict", trained, one, "--classes-file", names, "--format", "csv", "--output", target
    )
    assert code == 0, err
    table = list(csv.DictReader(io.StringIO(target.read_text())))
    assert [r["rank"] for r in table] == ["1", "2"] and {r["class"] for r in table} == {"highway", "pasture"}

    code, out, err = run_cli(
        capsys, "predict", trained, one, "--classes-dataset", "EuroSAT", "--subset", "novel", "--data-root", mini_root
    )
    assert code == 0, err
    assert [p["class"] for p in json.loads(out)[0]["predictions"]] == ["Sea or Lake"]

    code, _, err = run_cli(capsys, "predict", trained, tmp_path / "missing.jpg")
    assert code == 2 and "missing.jpg does not exist" in err


def test_sweep_skips_finished_runs(tmp_path, capsys, mini_root, tiny_checkpoint):
    base = [
        "sweep",
        "--methods",
        "test_head",
        "--protocol",
        "fewshot",
        "--datasets",
        "EuroSAT",
        "--shots",
        "1",
        "--root",
        tmp_path / "runs",
        "--data-root",
        mini_root,
        "--clip",
        tiny_checkpoint,
    ]
    settings = [a for pair in zip(FAST[3::2], FAST[4::2], strict=True) for a in pair]
    code, out, err = run_cli(capsys, *base, "--seeds", "1", *settings)
    assert code == 0, err
    assert "0 finished (skipped), 1 to run" in out
    first = tmp_path / "runs/fewshot/test_head/EuroSAT/shots_1/seed_1/result.json"
    stamp = first.stat().st_mtime_ns

    code, out, err = run_cli(capsys, *base, "--seeds", "1", "2", *settings, "--dry-run")
    assert code == 0 and "[done] test_head EuroSAT K=1 seed=1" in out and "[todo] test_head EuroSAT K=1 seed=2" in out
    code, out, err = run_cli(capsys, *base, "--seeds", "1", "2", *settings)
    assert code == 0, err
    assert "1 finished (skipped), 1 to run" in out and "1 of 1 runs finished" in out
    assert first.stat().st_mtime_ns == stamp
    assert (tmp_path / "runs/fewshot/test_head/EuroSAT/shots_1/seed_2/result.json").is_file()


def test_sweep_spreads_runs_over_gpus(tmp_path):
    import sys

    from hicropl.engine.job import JOB_FILE
    from hicropl.engine.run_config import load_run_config
    from hicropl.engine.sweep import load_sweep, plan, run_on_gpus

    jobs = plan(
        load_sweep(
            None,
            {
                "methods": ["zeroshot"],
                "protocol": "fewshot",
                "datasets": ["EuroSAT"],
                "shots": [1, 2, 4],
                "seeds": [1],
                "root": str(tmp_path),
            },
        )
    )
    launched = []

    class Finished:
        def __init__(self, argv, env, stdout, stderr):
            launched.append((env["CUDA_VISIBLE_DEVICES"], argv))

        def poll(self):
            return 0

    assert run_on_gpus(jobs, [0, 3], spawn=Finished, poll_seconds=0) == []
    assert [gpu for gpu, _ in launched] == ["0", "3", "0"]
    # Every GPU runs the engine's job entry point on the job's config file in its run folder.
    for (_, argv), job in zip(launched, jobs, strict=True):
        assert argv == [sys.executable, "-m", "hicropl.engine.job", str(job.output / JOB_FILE), str(job.output)]
    assert [load_run_config(argv[3]).data.shots for _, argv in launched] == [1, 2, 4]


def test_slurm_launcher_without_submitit_says_what_to_install(tmp_path, capsys, monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_submitit(name, *args, **kwargs):
        if name == "submitit":
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_submitit)
    code, _, err = run_cli(
        capsys,
        "sweep",
        "--methods",
        "zeroshot",
        "--protocol",
        "fewshot",
        "--datasets",
        "EuroSAT",
        "--shots",
        "1",
        "--seeds",
        "1",
        "--root",
        tmp_path,
        "--launcher",
        "slurm",
    )
    assert code == 2 and "pip install 'hicropl[slurm]'" in err


def test_eval_refuses_other_clip_weights(trained, capsys, tmp_path):
    import torch

    from hicropl.clip.random import random_clip

    other = tmp_path / "other.pt"
    torch.save(random_clip(seed=1).model.state_dict(), other)
    code, _, err = run_cli(capsys, "eval", trained, "--clip", other, "--quiet")
    assert code == 2 and "are not those the run" in err and "pass --clip with the original weights" in err
