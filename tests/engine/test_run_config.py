"""Run configs: precedence of sources, canonical names, and errors that name the field and the fix."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from hicropl.engine.run import default_run_dir
from hicropl.engine.run_config import build_run_config, dump_run_config, load_run_config
from hicropl.errors import ConfigError


def _write(tmp_path, data) -> str:
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(data))
    return str(path)


def test_defaults_file_flags_overrides_in_that_order(tmp_path):
    file = _write(
        tmp_path,
        {
            "method": {"name": "zeroshot", "prompts": "ensemble"},
            "train": {"epochs": 7},
            "optim": {"lr": 0.5},
            "data": {"dataset": "pets"},
        },
    )
    config = load_run_config(
        file,
        {"train.epochs": 3, "seed": None, "data.protocol": "b2n"},
        ["train.epochs=4", "optim.lr=2e-3", "sched.step_per=step"],
    )
    assert config.method_name == "zeroshot" and config.method.prompts == "ensemble"
    assert config.train.epochs == 4 and config.optim.lr == 0.002 and config.sched.step_per == "step"
    assert config.seed == 1  # None means "flag not given"
    assert (config.data.dataset, config.data.protocol) == ("OxfordPets", "base2novel")  # canonical names
    assert config.optim.eps == 1e-3 and config.train.batch_size == 32  # the official recipe by default


def test_resolved_config_round_trips():
    config = load_run_config(None, {"method.name": "zeroshot", "data.dataset": "EuroSAT"}, ["data.targets=[dtd]"])
    again = build_run_config(yaml.safe_load(dump_run_config(config)))
    assert again == config and again.data.targets == ("DescribableTextures",)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["optim.lrr=0.1"], "Unknown config field optim.lrr.*Did you mean optim.lr"),
        (["optim.lr=fast"], "optim.lr = 'fast' must be a number"),
        (["train.epochs=2.5"], "train.epochs = 2.5 must be an integer"),
        (["train.precision=fp8"], "train.precision = 'fp8' is not allowed; choose one of 'fp32', 'bf16', 'fp16'"),
        (["trian.epochs=1"], "Unknown config section 'trian'.*Did you mean train"),
        (["optim.lr.x=1"], r"optim.lr = \{.x.: 1\} must be a number"),
        (["epochs"], "must look like key=value"),
        (["method.prompt=ensemble"], "method.prompt.*Did you mean method.prompts"),
    ],
)
def test_bad_overrides_name_the_field(overrides, message):
    with pytest.raises(ConfigError, match=message):
        load_run_config(None, {"method.name": "zeroshot"}, overrides)


def test_unknown_names_get_suggestions():
    with pytest.raises(ConfigError, match=r"Unknown method 'zeroshoot'.*Did you mean: zeroshot"):
        load_run_config(None, {"method.name": "zeroshoot"})
    with pytest.raises(ConfigError, match=r"--dataset.*unknown dataset 'eurosta'.*EuroSAT"):
        load_run_config(None, {"method.name": "zeroshot", "data.dataset": "eurosta"})
    with pytest.raises(ConfigError, match=r"--protocol.*unknown protocol 'fewshoot'.*fewshot"):
        load_run_config(None, {"method.name": "zeroshot", "data.protocol": "fewshoot"})
    with pytest.raises(ConfigError, match="No method given: pass --method"):
        load_run_config(None, {})


def test_switching_method_away_from_a_method_specific_file_is_refused(tmp_path):
    file = _write(tmp_path, {"method": {"name": "zeroshot", "prompts": "ensemble"}})
    with pytest.raises(ConfigError, match=r"--method test_head conflicts with method\.name zeroshot"):
        load_run_config(file, {"method.name": "test_head"})


def test_missing_config_file_names_the_flag(tmp_path):
    with pytest.raises(ConfigError, match="does not exist; check the --config path"):
        load_run_config(tmp_path / "nope.yaml")


def test_yaml_numbers_without_a_dot_are_read_as_floats(tmp_path):
    # PyYAML reads `lr: 1e-3` as the string "1e-3"; a float field accepts it, anything else is refused.
    path = tmp_path / "run.yaml"
    path.write_text("method: zeroshot\noptim:\n  lr: 1e-3\n  eps: 2E-8\n")
    config = load_run_config(str(path))
    assert config.optim.lr == 0.001 and config.optim.eps == 2e-8
    path.write_text("method: zeroshot\noptim:\n  lr: fast\n")
    with pytest.raises(ConfigError, match=r"optim.lr = 'fast' must be a number"):
        load_run_config(str(path))
    path.write_text("method: zeroshot\noptim:\n  lr: .nan\n")
    with pytest.raises(ConfigError, match=r"optim\.lr"):
        load_run_config(str(path))


def test_label_names_the_run_in_reports_and_survives_a_round_trip():
    config = load_run_config(None, {"method.name": "hicropl"}, ["label=hicropl-nocons", "method.use_consistency=false"])
    assert config.label == "hicropl-nocons"
    again = build_run_config(yaml.safe_load(dump_run_config(config)))
    assert again.label == "hicropl-nocons" and again.method.use_consistency is False
    assert load_run_config(None, {"method.name": "hicropl"}).label == ""


@pytest.mark.parametrize("variant", ["paper", "official"])
def test_a_method_variant_names_the_run(variant):
    config = load_run_config(None, {"method.name": "hicropl", "data.dataset": "EuroSAT"}, [f"method.variant={variant}"])
    assert config.variant == variant
    assert default_run_dir(config) == Path(f"runs/base2novel/hicropl-{variant}/EuroSAT/shots_16/seed_1")


def test_a_method_without_variants_names_the_run_by_itself():
    config = load_run_config(None, {"method.name": "coop", "data.dataset": "EuroSAT"}, [])
    assert config.variant is None
    assert default_run_dir(config) == Path("runs/base2novel/coop/EuroSAT/shots_16/seed_1")


def test_num_workers_defaults_to_at_most_the_usable_cpus(monkeypatch):
    # torch's DataLoader warns when it is asked for more workers than the process may use.
    import os

    from hicropl.engine.run_config import TrainConfig

    monkeypatch.setattr(os, "sched_getaffinity", lambda _pid: {0, 1}, raising=False)
    assert TrainConfig().num_workers == 2
    monkeypatch.setattr(os, "sched_getaffinity", lambda _pid: set(range(64)), raising=False)
    assert TrainConfig().num_workers == 4
    assert load_run_config({"method": "zeroshot"}, {}, ["train.num_workers=0"]).train.num_workers == 0
