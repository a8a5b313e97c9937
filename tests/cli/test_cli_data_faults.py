"""No quiet wrong answers about the data: shots a class cannot supply, images never decoded, seeds out of range."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hicropl.cli import build_parser
from hicropl.engine.run_config import MAX_SEED, load_run_config
from hicropl.errors import ConfigError
from tests.cli.cli_helpers import run_cli, train_args
from tests.data.synthetic import corrupt_image, make_miniature, truncate_image


def _with_shots(args: list, shots: int) -> list:
    args = [str(a) for a in args]
    args[args.index("--shots") + 1] = str(shots)
    return args


def test_more_shots_than_a_class_has_is_an_error_naming_it(tmp_path, capsys, mini_root, tiny_checkpoint):
    # The miniature EuroSAT's base classes have 3 (Annual Crop Land) and 4 (Forest) training images.
    code, out, err = run_cli(capsys, *_with_shots(train_args(tmp_path / "run", mini_root, tiny_checkpoint), 4))
    assert code == 2 and out == ""
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert "--shots 4: the class 'Annual Crop Land' of EuroSAT has only 3 training image(s)" in err
    assert "--shots 3 or less" in err and "--set data.shots_policy=available" in err
    assert not (tmp_path / "run" / "checkpoint.pt").exists()

    code, out, err = run_cli(capsys, *_with_shots(train_args(tmp_path / "many", mini_root, tiny_checkpoint), 16))
    assert code == 2 and "(and 1 more of its 2 classes have fewer than 16)" in err


def test_shots_policy_available_trains_on_what_there_is_and_records_it(tmp_path, capsys, mini_root, tiny_checkpoint):
    args = train_args(tmp_path / "run", mini_root, tiny_checkpoint, "--set", "data.shots_policy=available")
    code, _, err = run_cli(capsys, *_with_shots(args, 4))
    assert code == 0, err
    data = json.loads((tmp_path / "run" / "result.json").read_text())["data"]
    assert data["classes_with_fewer_shots"] == {"Annual Crop Land": 3}
    assert data["train_images"] == 3 + 4
    assert "shots_policy: available" in (tmp_path / "run" / "config.yaml").read_text()

    code, _, err = run_cli(capsys, *_with_shots(train_args(tmp_path / "exact", mini_root, tiny_checkpoint), 3))
    assert code == 0, err
    assert json.loads((tmp_path / "exact" / "result.json").read_text())["data"]["classes_with_fewer_shots"] == {}


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("1e23", "'1e23' is not a whole number"),
        ("-1", "-1 is out of range; pass a seed from 0 to 4294967295"),
        (str(2**64), f"{2**64} is out of range"),
        (str(MAX_SEED + 1), f"{MAX_SEED + 1} is out of range"),
    ],
)
def test_seed_flag_out_of_range(capsys, value, message):
    with pytest.raises(SystemExit) as exit_info:
        build_parser().parse_args(["train", f"--seed={value}"])
    assert exit_info.value.code == 2
    assert f"argument --seed: {message}" in capsys.readouterr().err


def test_seed_range_in_config_files_and_sweeps():
    assert build_parser().parse_args(["train", "--seed", str(MAX_SEED)]).seed == MAX_SEED
    assert load_run_config(None, {"method.name": "coop", "seed": MAX_SEED}).seed == MAX_SEED
    assert load_run_config(None, {"method.name": "coop", "seed": 0}).seed == 0
    for seed in (-1, MAX_SEED + 1, 2**64):
        with pytest.raises(ConfigError, match=f"seed: must be a whole number from 0 to {MAX_SEED}, got {seed}"):
            load_run_config(None, {"method.name": "coop", "seed": seed})


def _broken_eurosat(root: Path) -> tuple[Path, Path]:
    info = make_miniature(root, ["EuroSAT"]).datasets["EuroSAT"]
    truncated, garbage = info.paths["train"][0], info.paths["test"][-1]
    truncate_image(truncated, keep=0.3)
    corrupt_image(garbage)
    return truncated, garbage


def test_data_check_says_it_did_not_decode_and_decode_finds_corrupt_images(tmp_path, capsys):
    truncated, _ = _broken_eurosat(tmp_path)
    code, out, err = run_cli(capsys, "data", "check", "--data-root", tmp_path, "--dataset", "EuroSAT")
    assert code == 1
    assert "EuroSAT  different" in out and "checked for presence, not decoded: pass --decode" in out

    code, out, err = run_cli(capsys, "data", "check", "--data-root", tmp_path, "--dataset", "EuroSAT", "--decode")
    assert code == 1
    assert "EuroSAT  corrupt" in out
    assert f"2 image(s) cannot be decoded, e.g. {truncated}" in out and "--skip-corrupt-images" in out
    assert "Every present image was decoded (2 cannot be)" in out
    assert "decoding EuroSAT: 22 / 22 images" in err  # the progress count, on stderr


def test_decode_on_an_intact_dataset_and_alongside_missing_images(tmp_path):
    from hicropl.data.check import check_data_root

    info = make_miniature(tmp_path, ["EuroSAT"]).datasets["EuroSAT"]
    seen: list[tuple[str, int, int]] = []
    (check,) = check_data_root(tmp_path, ["EuroSAT"], decode=True, progress=lambda *a: seen.append(a))
    assert check.status == "different" and check.corrupt_files == 0
    assert seen[-1] == ("EuroSAT", 22, 22) and len(seen) == 22
    info.paths["val"][0].unlink()
    corrupt_image(info.paths["val"][1])
    (check,) = check_data_root(tmp_path, ["EuroSAT"], decode=True)
    assert check.status == "incomplete" and check.missing_files == 1 and check.corrupt_files == 1
    assert check.first_corrupt == str(info.paths["val"][1])
