"""Every shipped config file loads, validates, is headed by its command, and follows the official recipe."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from hicropl.engine.run_config import build_run_config, load_run_config
from hicropl.engine.sweep import load_sweep, plan
from hicropl.errors import ConfigError
from hicropl.methods.base import build_config, get_method_class, list_methods

ROOT = Path(__file__).resolve().parents[2] / "src" / "hicropl" / "configs"
CONFIGS = sorted(ROOT.rglob("*.yaml"))
IDS = [str(p.relative_to(ROOT)) for p in CONFIGS]


def _require_methods(names: list[str]) -> None:
    unknown = []
    for name in names:
        try:
            get_method_class(name)
        except ConfigError:
            unknown.append(name)
    assert not unknown, f"unknown method(s) {', '.join(unknown)}; registered: {', '.join(list_methods())}"


def test_configs_are_shipped():
    assert {p.name for p in CONFIGS} >= {
        "base2novel.yaml",
        "base2novel_imagenet.yaml",
        "fewshot.yaml",
        "fewshot_imagenet.yaml",
        "cross_dataset.yaml",
        "domain_generalization.yaml",
    }


@pytest.mark.parametrize("path", CONFIGS, ids=IDS)
def test_config_file_loads_and_is_headed_by_its_command(path: Path):
    first = path.read_text("utf-8").splitlines()[0]
    assert first.startswith("# hicropl "), "the first line must be the command that runs the file"
    assert f" {path.relative_to(ROOT).with_suffix('').as_posix()} " in first, "the command names the shipped config"
    data = yaml.safe_load(path.read_text("utf-8"))
    if "methods" in data:  # a sweep file: every run it plans must validate
        _require_methods(list(data["methods"]))
        jobs = plan(load_sweep(path, {}))
        assert jobs and all(job.config.method_name in data["methods"] for job in jobs)
        return
    section = dict(data["method"])
    name = section.pop("name")
    _require_methods([name])
    build_config(name, section)
    config = build_run_config(data)
    assert load_run_config(path).method == config.method


@pytest.mark.parametrize("path", [p for p in CONFIGS if p.parent.name == "hicropl"], ids=lambda p: p.name)
def test_hicropl_configs_follow_the_official_recipe(path: Path):
    data = yaml.safe_load(path.read_text("utf-8"))
    optim, sched, train, method = data["optim"], data["sched"], data["train"], data["method"]
    assert optim == {
        "name": "adam",
        "lr": 0.0025,
        "betas": [0.9, 0.999],
        "eps": 0.001,
        "weight_decay": 0.0005,
        "weight_decay_mode": "coupled",
        "foreach": False,
    }
    assert sched == {
        "name": "cosine",
        "warmup_epochs": 1,
        "warmup_type": "constant",
        "warmup_lr": 1e-5,
        "step_per": "epoch",
    }
    assert method["lambda_consistency"] == 12.0
    transfer = data["data"]["protocol"] in ("cross_dataset", "domain_generalization")
    imagenet = path.stem.endswith("_imagenet")
    expected = (5, 32) if transfer else (40, 128) if imagenet else (50, 32)
    assert (train["epochs"], train["batch_size"]) == expected
    assert (method["n_ctx"], method["depth"], method["boundary"], method["ctx_init"]) == (
        (2, 6, 5, "a photo of a") if transfer else (16, 12, 6, "")
    )
    assert train["selection"] == ("last" if transfer else "best_val")
    assert data["data"]["shots"] == 16


BASELINES = ("coop", "cocoop", "kgcoop", "ivlp", "maple", "promptsrc", "mma", "tcp")
PROTOCOLS = {
    "base-to-novel": "base2novel",
    "few-shot": "fewshot",
    "cross-dataset": "cross_dataset",
    "domain generalisation": "domain_generalization",
}


@pytest.mark.parametrize("method", BASELINES)
def test_baseline_configs_cover_every_protocol_their_authors_publish(method: str):
    folder = ROOT / method
    readme = (folder / "README.md").read_text("utf-8")
    shipped = {yaml.safe_load(p.read_text("utf-8"))["data"]["protocol"] for p in folder.glob("*.yaml")}
    for name, protocol in PROTOCOLS.items():
        rows = [line for line in readme.splitlines() if line.startswith(f"| {name}")]
        assert rows, f"{method}/README.md says nothing about {name}"
        if protocol not in shipped:  # a protocol without a file is one the authors do not publish
            assert all("| none |" in row for row in rows), f"{method}: no {protocol} config and no 'none' row"
    for path in folder.glob("*.yaml"):
        text = path.read_text("utf-8")
        assert "# Source:" in text and "Checked against the authors' code at" in text, path.name
        assert "UNCERTAIN" not in text and "as we recall" not in text, path.name
