"""Sweep jobs are resolved config files in their run folders, trained by one engine entry point."""

from __future__ import annotations

import subprocess
import sys
import types
from pathlib import Path

import torch

import hicropl
from hicropl.engine.job import JOB_FILE, main, train_from_file
from hicropl.engine.run_config import load_run_config, resolved_run_config
from hicropl.engine.sweep import SweepConfig, job_command, load_sweep, plan, run_local, run_on_gpus, submit_slurm
from hicropl.results.run_folder import RunFolder


def _sweep(root: Path, **fields) -> SweepConfig:
    base = {"methods": ["zeroshot"], "protocol": "fewshot", "datasets": ["EuroSAT"], "shots": [1], "seeds": [1]}
    return load_sweep(None, {**base, "root": str(root), **fields})


def test_a_job_file_round_trips_to_an_equal_run_config(tmp_path: Path) -> None:
    sweep = _sweep(
        tmp_path,
        methods=["coop"],
        seeds=[1, 2],
        overrides=["optim.lr=1e-5", "optim.betas=[0.8, 0.99]", "data.targets=[DTD, eurosat]", "train.epochs=3"],
    )
    jobs = plan(sweep)
    assert len(jobs) == 2
    for job in jobs:
        file = job.write()
        assert file == job.output / JOB_FILE and file.name != RunFolder.at(job.output).config.name
        loaded = load_run_config(file)
        assert loaded == job.config
        assert loaded.optim.lr == 1e-5 and loaded.optim.betas == (0.8, 0.99) and loaded.train.epochs == 3
        assert loaded.data.targets == ("DescribableTextures", "EuroSAT")


def test_run_configs_can_be_given_inline_per_method_and_dataset(tmp_path: Path) -> None:
    shared = {"method": {"name": "zeroshot", "prompts": "dataset"}, "train": {"eval_batch_size": 7}}
    dtd = {"method": {"name": "zeroshot", "prompts": "ensemble"}, "label": "zeroshot-dtd"}
    jobs = plan(_sweep(tmp_path, datasets=["EuroSAT", "DTD"], configs={"zeroshot": shared, "zeroshot/dtd": dtd}))
    by_dataset = {job.config.data.dataset: job for job in jobs}
    eurosat, textures = by_dataset["EuroSAT"].config, by_dataset["DescribableTextures"].config
    assert eurosat.method.prompts == "dataset" and eurosat.train.eval_batch_size == 7
    assert textures.method.prompts == "ensemble" and textures.train.eval_batch_size != 7
    # A labelled run gets its own folder, named as reports name it.
    assert by_dataset["DescribableTextures"].output.parts[-4] == "zeroshot-dtd"
    assert by_dataset["EuroSAT"].output.parts[-4] == "zeroshot"
    assert shared == {"method": {"name": "zeroshot", "prompts": "dataset"}, "train": {"eval_batch_size": 7}}


def test_a_label_is_one_folder_name(tmp_path: Path) -> None:
    (job,) = plan(_sweep(tmp_path, overrides=["label=zero shot/no L_cons"]))
    assert job.output == tmp_path / "fewshot" / "zero_shot_no_L_cons" / "EuroSAT" / "shots_1" / "seed_1"


def test_the_slurm_launcher_submits_the_job_entry_point(tmp_path: Path, monkeypatch) -> None:
    submitted = {}

    class Executor:
        cluster = "fake"

        def __init__(self, folder):
            submitted["folder"] = folder

        def update_parameters(self, **params):
            submitted["params"] = params

        def map_array(self, function, *arguments):
            submitted["call"] = (function, arguments)
            return [types.SimpleNamespace(job_id=f"7_{i}") for i in range(len(arguments[0]))]

    monkeypatch.setitem(sys.modules, "submitit", types.SimpleNamespace(AutoExecutor=Executor))
    sweep = _sweep(tmp_path, shots=[1, 2])
    jobs = plan(sweep)
    assert submit_slurm(jobs, sweep) == ("fake", ["7_0", "7_1"])
    function, (files, outputs) = submitted["call"]
    assert function is train_from_file
    assert files == [str(job.output / JOB_FILE) for job in jobs] and outputs == [str(job.output) for job in jobs]
    assert [load_run_config(file) for file in files] == [job.config for job in jobs]


def test_the_job_entry_point_reports_a_bad_config_file(tmp_path: Path, capsys) -> None:
    assert main([str(tmp_path / "missing.yaml"), str(tmp_path / "run")]) == 2
    assert "missing.yaml does not exist" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


def test_a_gpu_job_trains_in_a_subprocess(tmp_path: Path, data_root: Path, tiny_checkpoint: Path, monkeypatch) -> None:
    """The real subprocess (CUDA_VISIBLE_DEVICES set, so a CPU-only machine runs it on the CPU)."""
    source = str(Path(hicropl.__file__).resolve().parents[1])
    monkeypatch.setenv("PYTHONPATH", source)
    overrides = ["train.eval_batch_size=8", "train.num_workers=0"]
    sweep = _sweep(tmp_path / "runs", data_root=str(data_root), clip=str(tiny_checkpoint), overrides=overrides)
    jobs = plan(sweep)
    assert run_on_gpus(jobs, [0], spawn=subprocess.Popen, poll_seconds=0.1) == [], (
        jobs[0].output / "train.out"
    ).read_text()
    assert RunFolder.at(jobs[0].output).is_finished()
    # config.yaml holds the job's settings as they ran: device and precision resolved
    ran = resolved_run_config(
        jobs[0].config, torch.device("cuda", 0) if torch.cuda.is_available() else torch.device("cpu")
    )
    assert load_run_config(RunFolder.at(jobs[0].output).config) == ran
    assert job_command(jobs[0].output / JOB_FILE, jobs[0].output)[1:3] == ["-m", "hicropl.engine.job"]


def test_a_failing_gpu_job_is_reported(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("PYTHONPATH", str(Path(hicropl.__file__).resolve().parents[1]))
    jobs = plan(_sweep(tmp_path, data_root=str(tmp_path / "no_data")))
    failures = run_on_gpus(jobs, [0], poll_seconds=0.1)
    assert [job for job, _ in failures] == jobs and "exit code 2" in failures[0][1]
    assert "error:" in (jobs[0].output / "train.out").read_text()


def test_a_failing_local_job_is_reported_and_the_sweep_goes_on(tmp_path: Path) -> None:
    jobs = plan(_sweep(tmp_path, shots=[1, 2]))  # no CLIP weights named
    failures = run_local(jobs)
    assert [job for job, _ in failures] == jobs
    assert all(message.startswith("No CLIP weights given") for _, message in failures)
    assert [load_run_config(job.output / JOB_FILE) for job in jobs] == [job.config for job in jobs]
