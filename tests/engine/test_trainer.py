"""The training loop on a real run folder: checkpoint contents, accumulation, selection, failures."""

from __future__ import annotations

import errno
import json

import pytest
import torch

from hicropl.engine.run import train
from hicropl.engine.run_checkpoint import assert_no_backbone_tensors, method_state
from hicropl.errors import CheckpointError, NonFiniteLossError
from hicropl.methods.base import build_method
from tests.engine.engine_testkit import tiny_run_config


def _checkpoint(folder):
    return torch.load(folder / "checkpoint.pt", map_location="cpu", weights_only=True)


def test_run_folder_and_checkpoint_contents(tmp_path, data_root, tiny_checkpoint):
    config = tiny_run_config(data_root, tiny_checkpoint)
    result = train(config, tmp_path / "run", quiet=True, progress=False)
    folder = tmp_path / "run"
    assert sorted(p.name for p in folder.iterdir()) == [
        "checkpoint.pt",
        "checkpoint.pt.sha256",
        "config.yaml",
        "log.txt",
        "metrics.jsonl",
        "result.json",
        "run_state.json",
    ]
    saved = _checkpoint(folder)
    assert set(saved["method"]) == {"proj.weight", "proj.bias", "forwards"}  # no backbone tensor
    assert saved["finished"] is True and saved["train_state"]["epoch"] == 2
    assert saved["optimizer"]["param_groups"][0]["eps"] == 1e-3
    assert {"python", "numpy", "torch", "cuda"} <= set(saved["rng"])
    metrics = [json.loads(line) for line in (folder / "metrics.jsonl").read_text().splitlines()]
    assert [m["epoch"] for m in metrics] == [1, 2]
    assert metrics[0]["lr"] == 1e-5 and metrics[1]["lr"] == pytest.approx(0.0025)
    assert metrics[0]["steps"] == 2  # 2 base classes x 4 shots / batch 4
    on_disk = json.loads((folder / "result.json").read_text())
    assert on_disk == json.loads(json.dumps(result))
    assert set(result["evaluations"]) == {"EuroSAT (base)", "EuroSAT (novel)"}
    assert result["summary"]["hm"] == pytest.approx(
        2
        * result["summary"]["base"]
        * result["summary"]["novel"]
        / (result["summary"]["base"] + result["summary"]["novel"])
    )
    for key in ("accuracy", "macro_f1", "per_class", "count"):
        assert key in result["evaluations"]["EuroSAT (novel)"]
    assert result["evaluations"]["EuroSAT (novel)"]["count"] == 12
    assert result["method_records"] == {"text_source": "template"}
    assert result["backbone"]["checksum"] and result["environment"]["hicropl_version"]
    assert result["data"]["skipped_images"] == 0 and len(result["data"]["split_sha256"]) == 64
    assert result["classes"] == ["Annual Crop Land", "Forest"]
    assert "Finished" in (folder / "log.txt").read_text()


def test_backbone_tensors_are_refused(tiny_backbone):
    method = build_method("test_head", tiny_backbone, ["a", "b"])
    leaked = next(tiny_backbone.parameters())
    with pytest.raises(AssertionError, match="backbone"):
        assert_no_backbone_tensors([leaked], tiny_backbone, "the optimiser's parameters")
    method.leak = torch.nn.Linear(1, 1)
    method.leak.weight = leaked
    with pytest.raises(AssertionError, match="backbone"):
        method_state(method, tiny_backbone)


def test_gradient_accumulation_matches_a_larger_batch(tmp_path, data_root, tiny_checkpoint):
    whole = tiny_run_config(data_root, tiny_checkpoint, "method.dropout=0.0")
    accumulated = tiny_run_config(
        data_root, tiny_checkpoint, "method.dropout=0.0", "train.batch_size=2", "train.grad_accum=2"
    )
    train(whole, tmp_path / "a", quiet=True, progress=False)
    train(accumulated, tmp_path / "b", quiet=True, progress=False)
    a, b = _checkpoint(tmp_path / "a"), _checkpoint(tmp_path / "b")
    assert a["train_state"]["global_step"] == b["train_state"]["global_step"] == 4
    torch.testing.assert_close(a["method"]["proj.weight"], b["method"]["proj.weight"], atol=1e-6, rtol=1e-5)


def test_best_val_ties_go_to_the_later_epoch(tmp_path, data_root, tiny_checkpoint):
    # A learning rate this small leaves every prediction unchanged: all epochs tie on validation.
    config = tiny_run_config(
        data_root,
        tiny_checkpoint,
        "train.selection=best_val",
        "optim.lr=1e-12",
        "sched.warmup_lr=1e-12",
        "train.epochs=3",
    )
    result = train(config, tmp_path / "run", quiet=True, progress=False)
    assert result["selection"]["mode"] == "best_val"
    assert result["selection"]["epoch"] == 3
    assert all("val_accuracy" in json.loads(line) for line in (tmp_path / "run/metrics.jsonl").read_text().splitlines())


def test_method_without_trainable_parameters_is_evaluated_only(tmp_path, data_root, tiny_checkpoint):
    config = tiny_run_config(data_root, tiny_checkpoint, method="zeroshot")
    result = train(config, tmp_path / "run", quiet=True, progress=False)
    assert result["training"]["trained"] is False and result["training"]["optimizer_steps"] == 0
    assert _checkpoint(tmp_path / "run")["method"] == {}
    assert not (tmp_path / "run/metrics.jsonl").exists()
    assert 0 <= result["summary"]["base"] <= 100


def test_nan_loss_stops_and_keeps_the_last_good_checkpoint(tmp_path, data_root, tiny_checkpoint):
    config = tiny_run_config(data_root, tiny_checkpoint, "method.nan_after=3")
    with pytest.raises(NonFiniteLossError) as info:
        train(config, tmp_path / "run", quiet=True, progress=False)
    message = str(info.value)
    assert "epoch 2, step 2 (global step 4)" in message
    assert "checkpoint.pt is kept" in message and "bf16 or fp32" in message and "optim.lr" in message
    saved = _checkpoint(tmp_path / "run")
    assert saved["train_state"]["epoch"] == 1 and torch.isfinite(saved["method"]["proj.weight"]).all()
    assert not (tmp_path / "run/result.json").exists()


def test_full_disk_keeps_the_previous_checkpoint(tmp_path, data_root, tiny_checkpoint, monkeypatch):
    real_save = torch.save
    calls = []

    def save(obj, path, *args, **kwargs):
        calls.append(path)
        if len(calls) > 1:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_save(obj, path, *args, **kwargs)

    monkeypatch.setattr(torch, "save", save)
    config = tiny_run_config(data_root, tiny_checkpoint)
    with pytest.raises(CheckpointError, match=r"disk is full; the previous checkpoint\.pt is intact"):
        train(config, tmp_path / "run", quiet=True, progress=False)
    monkeypatch.setattr(torch, "save", real_save)
    assert _checkpoint(tmp_path / "run")["train_state"]["epoch"] == 1
    assert not [p for p in (tmp_path / "run").iterdir() if p.name.endswith(".tmp")]
