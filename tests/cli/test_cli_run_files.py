"""``eval`` and ``predict`` on a finished run: damaged run files and bad flags give one line naming the
file and a fix the command really has; ``--set`` and the fallback flags; results are printed once."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from hicropl.cli import build_parser, main
from tests.cli.cli_helpers import run_cli, train_args
from tests.data.synthetic import corrupt_image

HICROPL_TINY = ["--set", "method.depth=4", "--set", "method.boundary=2", "--set", "method.n_ctx=2"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory, mini_root, tiny_checkpoint):
    run = tmp_path_factory.mktemp("files") / "run"
    assert main([str(a) for a in train_args(run, mini_root, tiny_checkpoint)]) == 0
    return run


@pytest.fixture(scope="module")
def trained_hicropl(tmp_path_factory, mini_root, tiny_checkpoint):
    run = tmp_path_factory.mktemp("files") / "hicropl"
    assert main([str(a) for a in train_args(run, mini_root, tiny_checkpoint, *HICROPL_TINY, method="hicropl")]) == 0
    return run


def one_line_error(code: int, err: str) -> str:
    assert code == 2, err
    assert err.startswith("error: ") and "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    return err


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[:100])


def _garble(path: Path) -> None:
    path.write_bytes(b"\x00\xff{{[: :")


def _empty(path: Path) -> None:
    path.write_bytes(b"")


def _wrong_shape(path: Path) -> None:
    path.write_text("[1, 2]\n")


DAMAGE = {"truncated": _truncate, "garbled": _garble, "empty": _empty, "a list": _wrong_shape}


@pytest.mark.parametrize("command", ["eval", "predict"])
@pytest.mark.parametrize("file", ["result.json", "config.yaml"])
@pytest.mark.parametrize("damage", list(DAMAGE))
def test_a_damaged_run_file_is_named_with_a_real_fix(trained, tmp_path, capsys, command, file, damage):
    run = tmp_path / "run"
    shutil.copytree(trained, run)
    DAMAGE[damage](run / file)
    # predict is given some existing file as its image: the run's files are read before any image.
    args = [command, run] + ([run / "log.txt"] if command == "predict" else ["--quiet"])
    err = one_line_error(*run_cli(capsys, *args)[::2])
    assert f"The run file {run / file} is damaged" in err
    assert "--overwrite" in err and "--method" not in err


def test_result_json_without_what_restoring_needs(trained, tmp_path, capsys):
    run = tmp_path / "run"
    shutil.copytree(trained, run)
    result = json.loads((run / "result.json").read_text())
    for key, value, problem in [
        ("classes", None, "no list of class names under 'classes'"),
        ("dataset", 3, "no dataset name under 'dataset'"),
        ("backbone", "ViT", "'backbone' is not an object"),
    ]:
        broken = dict(result)
        if value is None:
            del broken[key]
        else:
            broken[key] = value
        (run / "result.json").write_text(json.dumps(broken))
        err = one_line_error(*run_cli(capsys, "eval", run, "--quiet")[::2])
        assert problem in err and "result.json is damaged" in err


def test_config_yaml_with_a_bad_value_or_an_unregistered_method(trained, tmp_path, capsys):
    run = tmp_path / "run"
    shutil.copytree(trained, run)
    original = (run / "config.yaml").read_text()
    (run / "config.yaml").write_text(original.replace("seed: 1", "seed: abc"))
    err = one_line_error(*run_cli(capsys, "eval", run, "--quiet")[::2])
    assert "config.yaml is damaged (seed = 'abc' must be an integer)" in err
    (run / "config.yaml").write_text(original.replace("name: test_head", "name: somebody_elses_method"))
    err = one_line_error(*run_cli(capsys, "predict", run, run / "log.txt")[::2])
    assert "used the method 'somebody_elses_method'" in err and "import the package that registers it" in err


def test_eval_and_predict_take_set_overrides(trained, capsys, mini_root):
    code, out, err = run_cli(capsys, "eval", trained, "--quiet", "--json", "--set", "train.eval_batch_size=1")
    assert code == 0, err
    assert json.loads(out)["count"] > 0
    err = one_line_error(*run_cli(capsys, "eval", trained, "--quiet", "--set", "train.eval_batch_size=0")[::2])
    assert "train.eval_batch_size: must be positive" in err
    image = mini_root / "eurosat" / "2750" / "Forest" / "Forest_1.jpg"
    err = one_line_error(*run_cli(capsys, "predict", trained, image, "--set", "method.nope=1")[::2])
    assert "Unknown config field method.nope" in err


def test_predict_checks_output_before_any_work(trained, tmp_path, capsys, mini_root, monkeypatch):
    import hicropl.engine.restore as restore

    def no_model(*args, **kwargs):
        raise AssertionError("the model was loaded before --output was checked")

    monkeypatch.setattr(restore, "restore_run", no_model)
    image = mini_root / "eurosat" / "2750" / "Forest" / "Forest_1.jpg"
    err = one_line_error(*run_cli(capsys, "predict", trained, image, "--output", tmp_path / "nowhere" / "p.csv")[::2])
    assert f"the folder {tmp_path / 'nowhere'} does not exist" in err and "mkdir -p" in err
    err = one_line_error(*run_cli(capsys, "predict", trained, image, "--output", tmp_path)[::2])
    assert "is a folder; pass a file name" in err
    assert not (tmp_path / "nowhere").exists()


def test_report_output_must_not_be_a_file(trained, tmp_path, capsys):
    target = tmp_path / "report.txt"
    target.write_text("keep me")
    err = one_line_error(*run_cli(capsys, "report", trained, "--output", target)[::2])
    assert f"--output {target} is a file" in err
    assert target.read_text() == "keep me"


def test_eval_and_train_print_their_result_once(trained, tmp_path, capsys, mini_root, tiny_checkpoint):
    code, out, err = run_cli(capsys, "eval", trained, "--subset", "novel")
    assert code == 0, err
    line = out.strip()
    assert line.startswith("EuroSAT (novel): accuracy") and (out + err).count(line) == 1
    assert line in (trained / "log.txt").read_text()  # the log file keeps it
    args = [a for a in train_args(tmp_path / "run", mini_root, tiny_checkpoint) if a != "--quiet"]
    code, out, err = run_cli(capsys, *args)
    assert code == 0, err
    summary = out.strip().split(": ", 1)[1]
    assert summary.startswith("base ") and (out + err).count(summary) == 1
    assert f"Finished: {summary}" in (tmp_path / "run" / "log.txt").read_text()


def test_fallback_flags_reach_train_eval_and_predict(trained, tmp_path, capsys, tiny_checkpoint):
    from tests.data.synthetic import make_miniature

    mini = make_miniature(tmp_path / "data", ["EuroSAT"])
    info = mini.datasets["EuroSAT"]
    broken = info.paths["test"][0]
    corrupt_image(broken)
    err = one_line_error(*run_cli(capsys, "eval", trained, "--quiet", "--data-root", mini.root)[::2])
    assert str(broken) in err and "--skip-corrupt-images" in err
    code, out, err = run_cli(
        capsys, "eval", trained, "--quiet", "--json", "--data-root", mini.root, "--skip-corrupt-images"
    )
    assert code == 0, err
    assert json.loads(out)["skipped_images"] == 1

    err = one_line_error(*run_cli(capsys, "predict", trained, broken.parent)[::2])
    assert "--skip-corrupt-images" in err
    code, out, err = run_cli(capsys, "predict", trained, broken.parent, "--skip-corrupt-images")
    assert code == 0, err
    assert str(broken) not in out and f"skipped 1 image(s) that cannot be decoded: {broken}" in err
    assert len(json.loads(out)) == len([p for p in broken.parent.iterdir()]) - 1

    code, _, err = run_cli(capsys, *train_args(tmp_path / "run", mini.root, tiny_checkpoint, "--skip-corrupt-images"))
    assert code == 0, err
    assert "skip_corrupt: true" in (tmp_path / "run" / "config.yaml").read_text()

    for command in (["eval", trained, "--quiet"], ["predict", trained, broken.parent]):
        err = one_line_error(*run_cli(capsys, *command, "--description-fallback")[::2])
        assert "--description-fallback is an option of methods" in err and "test_head has none" in err


def test_fallback_flags_are_in_every_using_commands_help():
    subparsers = next(a for a in build_parser()._actions if a.dest == "command").choices
    for name in ("train", "zero-shot", "import", "eval", "predict"):
        text = subparsers[name].format_help()
        assert "--skip-corrupt-images" in text and "--description-fallback" in text, name
    for name in ("eval", "predict"):
        assert "--set KEY=VALUE" in subparsers[name].format_help(), name


def test_predict_custom_classes_on_a_hicropl_run(trained_hicropl, tmp_path, capsys, mini_root):
    image = mini_root / "eurosat" / "2750" / "Forest" / "Forest_1.jpg"
    err = one_line_error(*run_cli(capsys, "predict", trained_hicropl, image, "--set", "method.n_ctx=3")[::2])
    assert "does not fit hicropl with method.n_ctx=3: " in err and "drop the --set" in err

    code, out, err = run_cli(capsys, "predict", trained_hicropl, image, "--classes", "river,forest")
    assert code == 0, err
    assert "template ensemble" in err and "--descriptions FILE" in err
    fallback = json.loads(out)[0]["predictions"]
    assert {p["class"] for p in fallback} == {"river", "forest"}

    descriptions = tmp_path / "descriptions.json"
    descriptions.write_text(json.dumps({"river": ["water flowing in a bed"], "forest": ["many tall trees"]}))
    code, out, err = run_cli(
        capsys, "predict", trained_hicropl, image, "--classes", "river,forest", "--descriptions", descriptions
    )
    assert code == 0, err
    assert "warning" not in err
    described = json.loads(out)[0]["predictions"]
    assert {p["class"] for p in described} == {"river", "forest"}
    assert [p["probability"] for p in described] != [p["probability"] for p in fallback]  # descriptions used

    err = one_line_error(
        *run_cli(capsys, "predict", trained_hicropl, image, "--classes", "river,lake", "--descriptions", descriptions)[
            ::2
        ]
    )
    assert "'lake'" in err and "--description-fallback" in err
    code, _, err = run_cli(
        capsys,
        "predict",
        trained_hicropl,
        image,
        "--classes",
        "river,lake",
        "--descriptions",
        descriptions,
        "--description-fallback",
    )
    assert code == 0, err
    err = one_line_error(*run_cli(capsys, "predict", trained_hicropl, image, "--descriptions", descriptions)[::2])
    assert "--descriptions describes the classes of --classes or --classes-file" in err
    err = one_line_error(
        *run_cli(capsys, "predict", trained_hicropl, image, "--classes", "a,b", "--descriptions", tmp_path / "no.json")[
            ::2
        ]
    )
    assert "no.json does not exist" in err


def test_predict_custom_classes_on_a_zero_shot_descriptions_run(tmp_path, capsys, mini_root, tiny_checkpoint):
    run = tmp_path / "zs"
    code, _, err = run_cli(
        capsys,
        *["zero-shot", "--dataset", "EuroSAT", "--prompts", "descriptions", "--data-root", mini_root],
        *["--clip", tiny_checkpoint, "--output", run, "--quiet", "--set", "train.num_workers=0"],
    )
    assert code == 0, err
    image = mini_root / "eurosat" / "2750" / "Forest" / "Forest_1.jpg"
    err = one_line_error(*run_cli(capsys, "predict", run, image, "--classes", "a,b")[::2])
    assert "zeroshot run builds its text features from descriptions" in err and "--descriptions FILE" in err
    assert "--description-fallback" not in err  # zeroshot has no such option
    descriptions = tmp_path / "ab.json"
    descriptions.write_text(json.dumps({"a": ["a thing called a"], "b": ["a thing called b"]}))
    code, out, err = run_cli(capsys, "predict", run, image, "--classes", "a,b", "--descriptions", descriptions)
    assert code == 0, err
    assert {p["class"] for p in json.loads(out)[0]["predictions"]} == {"a", "b"}
