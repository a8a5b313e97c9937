"""``hicropl import`` refuses what does not fit, in one line that names it and the setting to change,
and writes nothing: another method's checkpoint, missing, extra or misshapen tensors, other classes or
CLIP weights, a file that is no Dassl checkpoint, and a pickle that would run code."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from tests.cli.authors_checkpoints import (
    CONFIGS,
    authors_state_dict,
    dassl_checkpoint,
    given_settings,
    import_args,
    save_checkpoint,
)
from tests.cli.cli_helpers import run_cli

TRACE = {config.id: config for config in CONFIGS}
MAPLE, COOP, IVLP, HICROPL = (
    TRACE["maple/word_m2_J3"],
    TRACE["coop/random_end_m16"],
    TRACE["ivlp/t2_v2_depth4"],
    (TRACE["hicropl/word_init_m2_D3_k2"]),
)


def refused(capsys, config, checkpoint: Path, run: Path, data_root: Path, *extra: object) -> str:
    """Import and expect the one-line refusal; returns it."""
    code, _, err = run_cli(capsys, *import_args(config, checkpoint, run, data_root, *extra))
    assert code == 2, err
    assert err.startswith("error: ") and "Traceback" not in err
    assert not (run / "result.json").exists() and not (run / "checkpoint.pt").exists()
    return err


def with_state(tmp_path: Path, config, change) -> Path:
    state = authors_state_dict(config)
    change(state)
    return save_checkpoint(tmp_path / "authors", config, torch.float16, state)


@pytest.fixture(autouse=True)
def _trace_clip(trace_clip):
    return trace_clip


def test_another_methods_checkpoint(tmp_path, capsys, mini_root):
    checkpoint = save_checkpoint(tmp_path / "authors", MAPLE, torch.float16)
    err = refused(capsys, COOP, checkpoint, tmp_path / "run", mini_root)
    assert "does not have: prompt_learner.compound_prompt_projections.0.bias" in err
    assert "Is it a checkpoint of another method? Pass that method's name to --method." in err


def test_missing_tensor(tmp_path, capsys, mini_root):
    checkpoint = with_state(tmp_path, MAPLE, lambda s: s.pop("prompt_learner.compound_prompt_projections.1.weight"))
    err = refused(capsys, MAPLE, checkpoint, tmp_path / "run", mini_root, *given_settings(MAPLE))
    assert "lacks couplings.2.weight" in err and "is the file complete" in err


def test_unknown_tensor(tmp_path, capsys, mini_root):
    checkpoint = with_state(tmp_path, COOP, lambda s: s.update(extra_vectors=torch.zeros(3)))
    err = refused(capsys, COOP, checkpoint, tmp_path / "run", mini_root, *given_settings(COOP))
    assert "does not have: extra_vectors" in err


def test_tensor_beyond_the_given_depth(tmp_path, capsys, mini_root):
    checkpoint = save_checkpoint(tmp_path / "authors", IVLP, torch.float16)
    err = refused(
        capsys, IVLP, checkpoint, tmp_path / "run", mini_root, *given_settings(IVLP), "--set", "method.depth_text=3"
    )
    assert "text_encoder.transformer.resblocks.3.VPT_shallow (text_prompts.3), which this model lacks" in err
    assert "--set method.depth_text=4 (the config has depth_text=3)" in err


def test_wrong_shape_names_the_tensor_the_shapes_and_the_setting(tmp_path, capsys, mini_root):
    checkpoint = save_checkpoint(tmp_path / "authors", MAPLE, torch.float16)
    err = refused(
        capsys, MAPLE, checkpoint, tmp_path / "run", mini_root, *given_settings(MAPLE), "--set", "method.n_ctx=3"
    )
    assert "prompt_learner.ctx has shape (2, 32), but maple as configured expects (3, 32)" in err
    assert "--set method.n_ctx=2 (the config has n_ctx=3)" in err


def test_given_setting_that_contradicts_the_shapes(tmp_path, capsys, mini_root):
    checkpoint = save_checkpoint(tmp_path / "authors", COOP, torch.float16)
    err = refused(capsys, COOP, checkpoint, tmp_path / "run", mini_root, "--set", "method.ctx_init=a photo of a")
    assert "need --set method.ctx_init='' where the settings give method.ctx_init='a photo of a'" in err


def test_hicropl_loads_only_into_the_official_variant(tmp_path, capsys, mini_root):
    checkpoint = save_checkpoint(tmp_path / "authors", HICROPL, torch.float16)
    err = refused(
        capsys,
        HICROPL,
        checkpoint,
        tmp_path / "run",
        mini_root,
        *given_settings(HICROPL),
        "--set",
        "method.variant=paper",
    )
    assert "variant=official" in err


def test_other_training_classes(tmp_path, capsys, mini_root):
    checkpoint = save_checkpoint(tmp_path / "authors", COOP, torch.float16)
    args = [*given_settings(COOP), "--dataset", "EuroSAT", "--protocol", "base2novel"]
    err = refused(capsys, COOP, checkpoint, tmp_path / "run", mini_root, *args)
    assert "trained on 5 classes (token_prefix has shape (5, 1, 32))" in err and "--dataset" in err


def test_other_clip_weights(tmp_path, capsys, mini_root):
    checkpoint = with_state(tmp_path, MAPLE, lambda s: s["image_encoder.ln_post.weight"].add_(1.0))
    err = refused(capsys, MAPLE, checkpoint, tmp_path / "run", mini_root, *given_settings(MAPLE))
    assert "other CLIP weights" in err and "image_encoder.ln_post.weight" in err and "--clip" in err


def test_a_file_that_is_no_dassl_checkpoint(tmp_path, capsys, mini_root):
    plain = tmp_path / "weights.pt"
    torch.save({"ctx": torch.zeros(16, 32)}, plain)
    assert "is not a Dassl checkpoint" in refused(capsys, COOP, plain, tmp_path / "run", mini_root)
    text = tmp_path / "notes.txt"
    text.write_text("not a checkpoint")
    assert "is not a readable PyTorch checkpoint" in refused(capsys, COOP, text, tmp_path / "run", mini_root)
    assert "does not exist" in refused(capsys, COOP, tmp_path / "nowhere", tmp_path / "run", mini_root)
    (tmp_path / "empty" / "prompt_learner").mkdir(parents=True)
    assert "No Dassl checkpoint under" in refused(capsys, COOP, tmp_path / "empty", tmp_path / "run", mini_root)


class _RunsCode:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_a_pickle_that_would_run_code_is_refused(tmp_path, capsys, mini_root):
    marker = tmp_path / "ran"
    payload = dassl_checkpoint(authors_state_dict(COOP), torch.float16)
    payload["scheduler"]["successor"] = _RunsCode(marker)
    path = tmp_path / "model-best.pth.tar"
    torch.save(payload, path)
    err = refused(capsys, COOP, path, tmp_path / "run", mini_root)
    assert "NOT loaded" in err and "weights_only=True" in err and "system" in err
    assert not marker.exists()


def test_an_existing_run_is_kept_unless_overwritten(tmp_path, capsys, mini_root):
    save_checkpoint(tmp_path / "authors", COOP, torch.float16)
    args = import_args(COOP, tmp_path / "authors", tmp_path / "run", mini_root, *given_settings(COOP))
    assert run_cli(capsys, *args)[0] == 0
    code, _, err = run_cli(capsys, *args)
    assert code == 2 and "already holds a run" in err and "--overwrite" in err
    assert run_cli(capsys, *args, "--overwrite")[0] == 0


def test_a_config_file_whose_settings_contradict_the_shapes(tmp_path, capsys, mini_root):
    checkpoint = save_checkpoint(tmp_path / "authors", MAPLE, torch.float16)
    config = (
        Path(__file__).resolve().parents[2] / "src" / "hicropl" / "configs" / "maple" / "base2novel.yaml"
    )  # depth 9
    err = refused(capsys, MAPLE, checkpoint, tmp_path / "run", mini_root, "--config", config)
    assert "--set method.depth=3 (the config has depth=9)" in err


def test_a_method_whose_checkpoint_layout_is_unchecked_is_refused(tmp_path, capsys, mini_root):
    checkpoint = save_checkpoint(tmp_path / "authors", MAPLE, torch.float16)
    args = import_args(MAPLE, checkpoint, tmp_path / "run", mini_root)
    args[args.index("--method") + 1] = "promptsrc"
    code, _, err = run_cli(capsys, *args)
    assert code == 2 and "Traceback" not in err
    assert "does not read the authors' checkpoints of promptsrc yet" in err
    assert "cocoop, coop, hicropl, ivlp, kgcoop, maple" in err
    assert not (tmp_path / "run" / "result.json").exists()
