"""Shipped configs are found by name from any working directory; sweep files resolve against themselves."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from hicropl.cli import main
from hicropl.engine.config_files import packaged_config_names, packaged_configs_dir, resolve_config_file
from hicropl.engine.run_config import load_run_config
from hicropl.engine.sweep import load_sweep, plan
from hicropl.errors import ConfigError

SHIPPED = packaged_configs_dir() / "hicropl" / "base2novel.yaml"


@pytest.fixture
def elsewhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A working directory far from the repository."""
    cwd = tmp_path / "somewhere" / "else"
    cwd.mkdir(parents=True)
    monkeypatch.chdir(cwd)
    return cwd


def test_the_configs_are_inside_the_package():
    assert packaged_configs_dir().parent.name == "hicropl" and SHIPPED.is_file()
    assert "hicropl/base2novel" in packaged_config_names() and "sweeps/hicropl_base2novel" in packaged_config_names()


@pytest.mark.parametrize("name", ["hicropl/base2novel", "hicropl/base2novel.yaml", "configs/hicropl/base2novel.yaml"])
def test_a_shipped_name_is_found_from_any_directory(elsewhere: Path, name: str):
    assert resolve_config_file(name) == SHIPPED
    config = load_run_config(name, {"data.dataset": "EuroSAT"})
    assert (config.method_name, config.method.depth, config.train.epochs) == ("hicropl", 12, 50)


def test_an_existing_file_wins_over_the_shipped_name(elsewhere: Path):
    own = elsewhere / "hicropl" / "base2novel.yaml"
    own.parent.mkdir()
    own.write_text("method: {name: coop}\n", encoding="utf-8")
    assert resolve_config_file("hicropl/base2novel.yaml") == Path("hicropl/base2novel.yaml")
    assert load_run_config("hicropl/base2novel.yaml").method_name == "coop"
    assert load_run_config("hicropl/base2novel").method_name == "hicropl"  # no such file: the shipped one


def test_an_unknown_name_says_where_it_looked(elsewhere: Path):
    with pytest.raises(ConfigError, match=r"does not exist; check the --config path.*Did you mean hicropl/base2novel"):
        resolve_config_file("hicropl/base2nvel")


def test_a_sweep_file_resolves_its_configs_against_its_own_folder(elsewhere: Path, tmp_path: Path):
    folder = tmp_path / "project" / "sweeps"
    folder.mkdir(parents=True)
    (folder / "coop_short.yaml").write_text("method: {name: coop}\ntrain: {epochs: 2}\n", encoding="utf-8")
    sweep_file = folder / "mine.yaml"
    sweep_file.write_text(
        "protocol: base2novel\nmethods: [coop, hicropl]\ndatasets: [EuroSAT]\nseeds: [1]\n"
        "configs:\n  coop: coop_short.yaml\n  hicropl: hicropl/base2novel\n",
        encoding="utf-8",
    )
    jobs = plan(load_sweep(sweep_file, {"root": "runs"}))
    by_method = {job.config.method_name: job.config for job in jobs}
    assert by_method["coop"].train.epochs == 2  # the file next to the sweep, not one in the working directory
    assert by_method["hicropl"].train.epochs == 50  # the shipped config
    assert all(str(job.output).startswith("runs") for job in jobs)  # root stays relative to the working directory


@pytest.mark.parametrize("name", ["hicropl_base2novel", "hicropl_fewshot", "hicropl_transfer"])
def test_shipped_sweeps_run_from_any_directory_and_their_comment_counts_the_runs(elsewhere: Path, name: str):
    text = (packaged_configs_dir() / "sweeps" / f"{name}.yaml").read_text("utf-8")
    (count,) = re.findall(r"= (\d+) runs", text)
    assert len(plan(load_sweep(f"sweeps/{name}", {}))) == int(count)


def test_sweep_command_takes_a_shipped_sweep_by_name(elsewhere: Path, capsys: pytest.CaptureFixture[str]):
    assert main(["sweep", "--file", "sweeps/hicropl_base2novel.yaml", "--dry-run", "--clip", "x.pt"]) == 0
    assert capsys.readouterr().out.startswith("66 runs: 0 finished (skipped), 66 to run")
