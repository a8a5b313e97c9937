"""``hicropl import``: the authors' Dassl checkpoints (tests/cli/authors_checkpoints.py builds them from the
golden traces) become run folders whose method computes the authors' logits, and that ``eval``,
``predict`` and ``report`` use.

In fp16, as the authors save, the imported method's first evaluation equals the replay loaded with the
same fp16-rounded state (on the traces fp16 rounding moves the logits by up to 1.5e-2, 4e-4 of their
largest, far beyond the replay's 1e-5, so the trace itself is no reference for it); in fp32 it equals
the trace's ``eval0.logits``. Both to the replay's tolerance.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

import hicropl.engine.import_run
from hicropl.engine.restore import restore_run
from hicropl.methods import build_method
from tests.cli.authors_checkpoints import (
    CONFIGS,
    ONE_PER_METHOD,
    authors_settings,
    given_settings,
    import_args,
    save_checkpoint,
)
from tests.cli.cli_helpers import run_cli
from tests.methods.reference_replay import Replay, build_replay, torch_threads


def first_eval_logits(method, replay: Replay) -> torch.Tensor:
    """``method``'s logits on the trace's first evaluation batch, in the authors' thread count."""
    call = next(c for c in replay.spec["calls"] if c["mode"] == "eval")
    with torch_threads(replay.manifest["environment"]["torch_num_threads"]), method.evaluating():
        return method(replay.trace[call["batch"]]).logits.detach()


def imported_method(run: Path, replay: Replay):
    """The method of the run folder (its config.yaml and checkpoint.pt) built for the trace's classes (CSC
    contexts fit no others), in the authors' operation order."""
    restored = restore_run(run)
    backbone = restored.method.backbone
    backbone.reference_order = True
    method = build_method(restored.config.method_name, backbone, replay.method.classes, restored.config.method)
    method.load_state_dict(restored.method.state_dict())
    return method


@pytest.mark.parametrize("config", ONE_PER_METHOD, ids=lambda c: c.id)
def test_imported_fp32_checkpoint_gives_the_authors_logits(config, tmp_path, capsys, mini_root, trace_clip):
    checkpoint = save_checkpoint(tmp_path / "authors", config, torch.float32)
    run = tmp_path / "run"
    args = import_args(config, tmp_path / "authors", run, mini_root, *given_settings(config))
    code, out, err = run_cli(capsys, *args)
    assert code == 0, err
    assert f"hicropl eval {run}" in out

    restored = restore_run(run)  # what eval and predict do with the folder
    settings = authors_settings(config)  # the shapes filled in what the flags left out
    assert {key: getattr(restored.config.method, key) for key in settings} == settings
    result = restored.result
    assert result["imported_from"]["file"] == str(checkpoint.absolute())
    assert result["imported_from"]["sha256"] == hicropl.engine.import_run.file_sha256(checkpoint)
    assert result["imported_from"]["epoch"] == 5 and result["evaluations"] == {}
    assert result["label"] == f"{config.method}{'-official' if config.method == 'hicropl' else ''}-authors"

    replay = build_replay(config)
    logits = first_eval_logits(imported_method(run, replay), replay)
    call = next(c for c in replay.spec["calls"] if c["mode"] == "eval")
    replay.deviations.values("logits", logits, replay.trace[f"{call['tag']}.logits"], "imported eval0.logits")


@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: c.id)
def test_imported_fp16_checkpoint_equals_the_replay_with_fp16_state(config, tmp_path, capsys, mini_root, trace_clip):
    save_checkpoint(tmp_path / "authors", config, torch.float16)
    run = tmp_path / "run"
    code, _, err = run_cli(capsys, *import_args(config, tmp_path / "authors", run, mini_root, *given_settings(config)))
    assert code == 0, err

    replay = build_replay(config)
    logits = first_eval_logits(imported_method(run, replay), replay)
    replay.method.load_state_dict({k: v.half().float() for k, v in replay.method.state_dict().items()})
    expected = first_eval_logits(replay.method, replay)
    replay.deviations.values("logits", logits, expected, "imported eval0.logits (fp16 state)")


# eval, predict and report read only the run folder: one method per checkpoint layout (the prompt learner,
# the whole CustomCLIP, HiCroPL's) covers them.
FOLDER_LAYOUTS = [c for c in ONE_PER_METHOD if c.method in ("coop", "maple", "hicropl")]


@pytest.mark.parametrize("config", FOLDER_LAYOUTS, ids=lambda c: c.method)
def test_eval_predict_and_report_use_the_imported_run(config, tmp_path, capsys, mini_root, trace_clip):
    save_checkpoint(tmp_path / "authors", config, torch.float16)
    run = tmp_path / "runs" / "imported"
    code, _, err = run_cli(capsys, *import_args(config, tmp_path / "authors", run, mini_root, *given_settings(config)))
    assert code == 0, err

    # Not evaluated yet: the report leaves it out and says why.
    code, out, err = run_cli(capsys, "report", tmp_path / "runs")
    assert code == 0, err
    assert "not evaluated yet" in err and str(run) in err and "-authors" not in out

    label = json.loads((run / "result.json").read_text())["label"]
    code, out, err = run_cli(capsys, "eval", run, "--quiet", "--data-root", mini_root)
    assert code == 0, err
    assert out.startswith("ImageNet: accuracy")
    code, out, err = run_cli(capsys, "report", tmp_path / "runs")
    assert code == 0, err
    assert label in out and "not evaluated yet" not in err

    image = next(p for p in (mini_root / "imagenet").rglob("*") if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    code, out, err = run_cli(capsys, "predict", run, image, "--top-k", "2")
    assert code == 0, err
    rows = json.loads(out)
    assert len(rows[0]["predictions"]) == 2
    assert rows[0]["predictions"][0]["class"] in json.loads((run / "result.json").read_text())["classes"]
