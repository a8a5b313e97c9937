"""Help texts, info, data check, and one clear line (exit code 2, no traceback) for each bad input."""

from __future__ import annotations

import re

import pytest

from hicropl.cli import build_parser, main
from tests.cli.cli_helpers import run_cli, train_args

COMMANDS = ["train", "eval", "zero-shot", "predict", "report", "sweep", "data", "info"]


def test_help_lists_commands_and_every_command_has_examples(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert all(command in out for command in COMMANDS)
    parser = build_parser()
    subparsers = next(a for a in parser._actions if a.dest == "command").choices
    for name in COMMANDS:
        assert "examples:" in subparsers[name].format_help(), name
    check = next(a for a in subparsers["data"]._actions if a.dest == "data_command").choices["check"]
    assert "hicropl data check --data-root" in check.format_help() and "--root" not in check.format_help()


def test_info(capsys, tiny_checkpoint):
    code, out, _ = run_cli(capsys, "info", "--clip", tiny_checkpoint)
    assert code == 0 and "sha256" in out and "32px" in out
    code, out, _ = run_cli(capsys, "info")
    assert code == 0 and "zeroshot" in out and "EuroSAT" in out and "base2novel" in out


def test_data_check(capsys, mini_root):
    code, out, _ = run_cli(capsys, "data", "check", "--data-root", mini_root, "--dataset", "EuroSAT")
    assert code == 1 and "EuroSAT" in out  # the miniature has fewer images than the real dataset
    code, _, err = run_cli(capsys, "data", "check")
    assert code == 2 and "--data-root" in err


def test_data_check_root_is_a_deprecated_alias_of_data_root(capsys, mini_root):
    code, out, err = run_cli(capsys, "data", "check", "--root", mini_root, "--dataset", "EuroSAT")
    assert code == 1 and "EuroSAT" in out
    assert "`data check --root` is deprecated; use --data-root" in err


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"--dataset": None}, "No dataset given: pass --dataset"),
        ({"--clip": None}, "No CLIP weights given: pass --clip"),
        ({"--clip": "missing/ViT-B-16.pt"}, "ViT-B-16.pt does not exist; pass --clip"),
        ({"--data-root": None}, "No data root given: pass --data-root"),
        ({"--data-root": "nowhere"}, "nowhere does not exist or is not a folder; pass --data-root"),
        ({"--method": "test_haed"}, "Unknown method 'test_haed'. Did you mean: test_head\\?"),
        ({"--dataset": "eurosta"}, "--dataset.*unknown dataset 'eurosta'.*did you mean 'EuroSAT'"),
        ({"--protocol": "base2nvel"}, "--protocol.*unknown protocol 'base2nvel'.*did you mean 'base2novel'"),
        ({"--set": "optim.lrr=0.1"}, "Unknown config field optim.lrr for OptimConfig. Did you mean optim.lr\\?"),
        ({"--set": "train.epochs=many"}, "train.epochs = 'many' must be an integer"),
        ({"--config": "nope.yaml"}, "nope.yaml does not exist; check the --config path"),
    ],
)
def test_bad_input_gives_one_clear_line(tmp_path, capsys, mini_root, tiny_checkpoint, change, message):
    args = [str(a) for a in train_args(tmp_path / "run", mini_root, tiny_checkpoint)]
    for flag, value in change.items():
        if flag in args:
            index = args.index(flag)
            del args[index : index + 2]
        if value is not None:
            args += [flag, value]
    code, _, err = run_cli(capsys, *args)
    assert code == 2
    assert err.startswith("error: ") and re.search(message, err)
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "run").exists()  # caught before the run folder is made


def test_environment_supplies_defaults(tmp_path, capsys, mini_root, tiny_checkpoint, monkeypatch):
    monkeypatch.setenv("HICROPL_CLIP", str(tiny_checkpoint))
    monkeypatch.setenv("HICROPL_DATA", str(mini_root))
    args = [str(a) for a in train_args(tmp_path / "run", mini_root, tiny_checkpoint)]
    for flag in ("--clip", "--data-root"):
        index = args.index(flag)
        del args[index : index + 2]
    code, _, err = run_cli(capsys, *args)
    assert code == 0, err


def test_eval_of_an_unfinished_or_missing_run(tmp_path, capsys):
    code, _, err = run_cli(capsys, "eval", tmp_path / "none")
    assert code == 2 and "does not exist" in err
    (tmp_path / "half").mkdir()
    (tmp_path / "half" / "config.yaml").write_text("method: {name: zeroshot}\n")
    code, _, err = run_cli(capsys, "eval", tmp_path / "half")
    assert code == 2 and "has not finished" in err
