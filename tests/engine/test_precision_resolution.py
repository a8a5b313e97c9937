"""Which precision a run uses, and that the run folder says so (config.yaml resolved, result.json)."""

from __future__ import annotations

import json

import pytest
import torch
import yaml

from hicropl.engine.provenance import environment
from hicropl.engine.restore import restore_run
from hicropl.engine.run import train
from hicropl.errors import ConfigError
from hicropl.precision import autocast, needs_grad_scaler, resolve_precision
from tests.engine.engine_testkit import tiny_run_config

CPU = torch.device("cpu")


def test_cpu_resolution() -> None:
    assert resolve_precision("auto", CPU) == "fp32"  # the default: the CPU runs bf16 only when asked
    assert resolve_precision("fp32", CPU) == "fp32"
    assert resolve_precision("bf16", CPU) == "bf16"  # honoured, no longer silently fp32
    assert not needs_grad_scaler("bf16", CPU)
    with pytest.raises(ConfigError, match=r"fp16.*needs a GPU.*bf16 or fp32"):
        resolve_precision("fp16", CPU)


def test_cpu_bf16_autocast_runs_matmuls_in_bf16() -> None:
    a, b = torch.randn(4, 8), torch.randn(8, 3)
    with autocast("bf16", CPU):
        assert (a @ b).dtype == torch.bfloat16
    with autocast("auto", CPU):
        assert (a @ b).dtype == torch.float32


@pytest.mark.parametrize(("requested", "ran"), [(None, "fp32"), ("bf16", "bf16")])
def test_run_folder_records_what_ran(tmp_path, data_root, tiny_checkpoint, requested, ran) -> None:
    overrides = ["train.epochs=1"] + ([f"train.precision={requested}"] if requested else [])
    config = tiny_run_config(data_root, tiny_checkpoint, *overrides)
    assert config.train.precision == (requested or "auto") and config.train.device == "auto"
    result = train(config, tmp_path / "run", quiet=True, progress=False)
    saved = yaml.safe_load((tmp_path / "run" / "config.yaml").read_text())
    assert saved["train"]["precision"] == ran and saved["train"]["device"] == "cpu"
    assert result["training"]["precision"] == ran and result["training"]["device"] == "cpu"
    assert "gpu" not in result["environment"]  # the GPU block is for CUDA runs
    # Resuming or rerunning with the original request matches the resolved folder.
    with pytest.raises(ConfigError, match="already holds a finished run"):
        train(config, tmp_path / "run", quiet=True, progress=False)
    restored = restore_run(tmp_path / "run")
    assert restored.config.train.precision == ran
    assert json.loads((tmp_path / "run" / "result.json").read_text())["training"]["precision"] == ran


def test_gpu_record_only_for_cuda() -> None:
    assert "gpu" not in environment(CPU) and "gpu" not in environment()
    if torch.cuda.is_available():
        gpu = environment(torch.device("cuda"))["gpu"]
        assert gpu["name"] and gpu["cuda_runtime"] == torch.version.cuda and "cudnn" in gpu
