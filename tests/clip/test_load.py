"""load_clip: every accepted file form, architecture inference, and one clear error per bad input."""

from __future__ import annotations

import os
import subprocess
import sys
import warnings

import pytest
import torch
from safetensors.torch import save_file

from hicropl import load_clip
from hicropl.clip.random import TINY_CLIP_CONFIG
from hicropl.clip.weights_file import infer_clip_config
from hicropl.errors import CheckpointError

IMAGES = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(0))


def _same_model(loaded, reference) -> None:
    torch.testing.assert_close(loaded.encode_image(IMAGES), reference.encode_image(IMAGES), atol=1e-6, rtol=0)
    torch.testing.assert_close(
        loaded.encode_text(["a photo of a dog."]), reference.encode_text(["a photo of a dog."]), atol=1e-6, rtol=0
    )
    assert not any(p.requires_grad for p in loaded.parameters())


def test_infers_architecture_from_shapes(tiny_backbone):
    inferred = infer_clip_config(tiny_backbone.model.state_dict())
    assert inferred["embed_dim"] == TINY_CLIP_CONFIG["embed_dim"]
    for tower in ("vision_cfg", "text_cfg"):
        for key, value in TINY_CLIP_CONFIG[tower].items():
            assert inferred[tower][key] == value, (tower, key)


def test_plain_state_dict(tiny_backbone, tiny_checkpoint):
    loaded = load_clip(tiny_checkpoint)
    _same_model(loaded, tiny_backbone)
    assert len(loaded.checksum) == 64
    assert loaded.preprocessing.image_size == 32


def test_wrapped_and_module_prefixed_state_dict(tiny_backbone, tmp_path):
    state = {f"module.{k}": v for k, v in tiny_backbone.model.state_dict().items()}
    path = tmp_path / "ddp.pth"
    torch.save({"state_dict": state, "epoch": 3}, path)
    _same_model(load_clip(path), tiny_backbone)


def test_safetensors(tiny_backbone, tmp_path):
    path = tmp_path / "clip.safetensors"
    save_file({k: v.contiguous() for k, v in tiny_backbone.model.state_dict().items()}, str(path))
    _same_model(load_clip(path), tiny_backbone)


def test_openai_fp16_state_dict_with_metadata(tiny_backbone, tmp_path):
    # OpenAI archives keep most weights in fp16 and carry a few ints next to them.
    state = {k: v.half() for k, v in tiny_backbone.model.state_dict().items()}
    state.update(input_resolution=torch.tensor(32), context_length=torch.tensor(77), vocab_size=torch.tensor(49408))
    path = tmp_path / "openai.pt"
    torch.save(state, path)
    loaded = load_clip(path)
    assert loaded.model.visual.conv1.weight.dtype == torch.float32


def test_torchscript_archive(tiny_backbone, tmp_path):
    model = tiny_backbone.model
    image = torch.ones(2, 3, 32, 32)
    text = torch.zeros(2, 77, dtype=torch.long)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        traced = torch.jit.trace_module(
            model, {"forward": (image, text), "encode_image": (image,), "encode_text": (text,)}, check_trace=False
        )
    path = tmp_path / "ViT-tiny.pt"
    torch.jit.save(traced, str(path))
    _same_model(load_clip(path), tiny_backbone)


def test_named_architecture_must_match(tiny_checkpoint):
    with pytest.raises(CheckpointError, match=r"ViT-B-16.*vision width: 768 \(model\) vs 64 \(checkpoint\)"):
        load_clip(tiny_checkpoint, model_name="ViT-B-16")


def test_unknown_model_name_suggests(tiny_checkpoint):
    with pytest.raises(CheckpointError, match="Did you mean"):
        load_clip(tiny_checkpoint, model_name="ViT-B-61")


def test_missing_file(tmp_path):
    with pytest.raises(CheckpointError, match=r"CLIP weights not found: .*nope\.pt"):
        load_clip(tmp_path / "nope.pt")


def test_empty_file(tmp_path):
    path = tmp_path / "empty.pt"
    path.write_bytes(b"")
    with pytest.raises(CheckpointError, match="is empty"):
        load_clip(path)


def test_truncated_file(tiny_checkpoint, tmp_path):
    path = tmp_path / "truncated.pt"
    path.write_bytes(tiny_checkpoint.read_bytes()[:5000])
    with pytest.raises(CheckpointError, match="truncated or corrupt"):
        load_clip(path)


def test_corrupt_file(tmp_path):
    path = tmp_path / "garbage.bin"
    path.write_bytes(b"this is not a checkpoint at all" * 10)
    with pytest.raises(CheckpointError, match="truncated or corrupt"):
        load_clip(path)


def test_corrupt_safetensors(tmp_path):
    path = tmp_path / "bad.safetensors"
    path.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json}")
    with pytest.raises(CheckpointError, match="safetensors"):
        load_clip(path)


def test_not_a_clip(tmp_path):
    path = tmp_path / "resnet.pt"
    torch.save({"fc.weight": torch.zeros(2, 2)}, path)
    with pytest.raises(CheckpointError, match="not a CLIP ViT checkpoint"):
        load_clip(path)


def test_pickled_objects_are_not_executed(tmp_path):
    path = tmp_path / "evil.pt"
    torch.save({"model": torch.nn.Linear(2, 2)}, path)
    with pytest.raises(CheckpointError, match="only weights are read"):
        load_clip(path)


def test_offline_pretrained_tag_says_it_needs_internet():
    # huggingface_hub reads HF_HUB_OFFLINE at import time, so the real offline path runs in a fresh process.
    code = (
        "from hicropl import load_clip\n"
        "from hicropl.errors import CheckpointError\n"
        "try:\n    load_clip('ViT-B-16:openai')\n"
        "except CheckpointError as exc:\n    print('MESSAGE', exc)\n"
    )
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert "MESSAGE" in done.stdout and "internet" in done.stdout, done.stdout + done.stderr
