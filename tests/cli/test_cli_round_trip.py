"""train -> result.json -> eval -> report through ``hicropl.cli.main``, with the tiny CLIP as a file."""

from __future__ import annotations

import json
import os
import signal

from hicropl.engine.trainer import Trainer
from tests.cli.cli_helpers import FAST, run_cli, train_args


def test_train_eval_report_round_trip(tmp_path, capsys, mini_root, tiny_checkpoint):
    run = tmp_path / "runs" / "b2n" / "seed1"
    code, out, err = run_cli(capsys, *train_args(run, mini_root, tiny_checkpoint))
    assert code == 0, err
    assert "base" in out and "hm" in out
    result = json.loads((run / "result.json").read_text())
    assert result["method"] == "test_head" and result["dataset"] == "EuroSAT" and result["protocol"] == "base2novel"
    assert result["shots"] == 2 and result["seed"] == 1
    assert set(result["summary"]) == {"base", "novel", "hm"}
    assert result["backbone"]["source"] == str(tiny_checkpoint)

    # eval on the novel classes reproduces the number training recorded (same weights, same images).
    code, out, err = run_cli(capsys, "eval", run, "--subset", "novel", "--json", "--quiet")
    assert code == 0, err
    record = json.loads(out)
    assert record["name"] == "EuroSAT (novel)"
    assert record["accuracy"] == result["evaluations"]["EuroSAT (novel)"]["accuracy"]
    assert (run / "evals" / "EuroSAT_novel.json").is_file()

    code, out, err = run_cli(capsys, "report", tmp_path / "runs")
    assert code == 0, err
    assert "Base-to-novel" in out and "| EuroSAT | test_head |" in out
    hm = f"{result['summary']['hm']:.2f}"
    assert hm in out

    code, out, err = run_cli(capsys, *train_args(run, mini_root, tiny_checkpoint))
    assert code == 2 and "already holds a finished run" in err and "--overwrite" in err
    assert "Traceback" not in err
    code, _, err = run_cli(capsys, *train_args(run, mini_root, tiny_checkpoint, "--overwrite"))
    assert code == 0, err
    assert not (run / "evals").exists()  # --overwrite starts the folder afresh


def test_ctrl_c_writes_a_checkpoint_and_the_same_command_resumes(
    tmp_path, capsys, mini_root, tiny_checkpoint, monkeypatch
):
    original = Trainer._after_step
    sent = []

    def after_step(self):
        if not sent:
            sent.append(True)
            os.kill(os.getpid(), signal.SIGINT)  # what Ctrl-C does; the handler defers it to the step's end
        return original(self)

    monkeypatch.setattr(Trainer, "_after_step", after_step)
    args = train_args(tmp_path / "run", mini_root, tiny_checkpoint, "--set", "train.epochs=2")
    code, _, err = run_cli(capsys, *args)
    assert code == 130
    assert "interrupted" in err and "Rerun the same command to resume" in err and "Traceback" not in err
    assert (tmp_path / "run" / "checkpoint.pt").is_file() and not (tmp_path / "run" / "result.json").exists()
    code, _, err = run_cli(capsys, *args)
    assert code == 0, err
    assert "Resuming at epoch 1, step 1" in (tmp_path / "run" / "log.txt").read_text()
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_zero_shot_run(tmp_path, capsys, mini_root, tiny_checkpoint):
    run = tmp_path / "zs"
    code, _, err = run_cli(
        capsys,
        "zero-shot",
        "--dataset",
        "eurosat",
        "--prompts",
        "ensemble",
        "--data-root",
        mini_root,
        "--clip",
        tiny_checkpoint,
        "--output",
        run,
        "--quiet",
        "--set",
        "train.num_workers=0",
    )
    assert code == 0, err
    result = json.loads((run / "result.json").read_text())
    assert result["method"] == "zeroshot" and result["training"]["trained"] is False
    assert set(result["summary"]) == {"base", "novel", "hm"}
    code, _, err = run_cli(
        capsys,
        "zero-shot",
        "--dataset",
        "EuroSAT",
        "--template",
        "a {} photo.",
        "--data-root",
        mini_root,
        "--clip",
        tiny_checkpoint,
        "--output",
        tmp_path / "zs2",
        "--quiet",
        "--set",
        "train.num_workers=0",
    )
    assert code == 0, err
    assert "a {} photo." in (tmp_path / "zs2" / "config.yaml").read_text()


def test_cross_dataset_and_domain_generalisation(tmp_path, capsys, mini_root, tiny_checkpoint):
    run = tmp_path / "runs" / "xd"
    code, _, err = run_cli(
        capsys,
        "train",
        "--method",
        "test_head",
        "--dataset",
        "imagenet",
        "--protocol",
        "cross_dataset",
        "--seed",
        "1",
        "--data-root",
        mini_root,
        "--clip",
        tiny_checkpoint,
        "--output",
        run,
        *FAST,
        "--set",
        "data.targets=[DescribableTextures, ImageNetV2]",
    )
    assert code == 0, err
    result = json.loads((run / "result.json").read_text())
    assert list(result["evaluations"]) == ["ImageNet", "DescribableTextures", "ImageNetV2"]
    assert result["evaluations"]["DescribableTextures"]["count"] == 6
    code, out, err = run_cli(capsys, "eval", run, "--dataset", "imagenet_sketch", "--quiet")
    assert code == 0, err
    assert out.startswith("ImageNetSketch: accuracy")
    report_dir = tmp_path / "report"
    code, out, err = run_cli(capsys, "report", tmp_path / "runs", "--output", report_dir)
    assert code == 0, err
    markdown = (report_dir / "report.md").read_text()
    assert "Cross-dataset transfer from ImageNet" in markdown and "Domain generalisation from ImageNet" in markdown
    tables = json.loads((report_dir / "report.json").read_text())["tables"]
    dg = next(t for t in tables if t["key"] == "domain_generalization:ImageNet")
    cells = dict(zip(dg["columns"], dg["rows"][0]["cells"], strict=True))
    assert cells["ImageNetSketch"] is not None and cells["ImageNetA"] is None  # missing target stays missing
    assert "ImageNetSketch" in (report_dir / "report.csv").read_text()


def test_missing_target_keeps_the_trained_model(tmp_path, capsys, mini_root, tiny_checkpoint):
    args = [
        "train",
        "--method",
        "test_head",
        "--dataset",
        "ImageNet",
        "--protocol",
        "cross_dataset",
        "--seed",
        "1",
        "--data-root",
        mini_root,
        "--clip",
        tiny_checkpoint,
        "--output",
        tmp_path / "run",
        *FAST,
    ]
    code, _, err = run_cli(capsys, *args, "--set", "data.targets=[Caltech101, DescribableTextures]")
    assert code == 2 and "caltech-101" in err and "rerun the same command to evaluate without retraining" in err
    code, _, err = run_cli(capsys, *args, "--set", "data.targets=[DescribableTextures]")
    assert code == 0, err
    result = json.loads((tmp_path / "run" / "result.json").read_text())
    assert list(result["evaluations"]) == ["ImageNet", "DescribableTextures"]
    assert "Resuming at epoch 2, step 0" in (tmp_path / "run" / "log.txt").read_text()  # no retraining
