"""The README's Python quick start runs as written, on a tiny CLIP with ViT-B/16's depth standing in for
the weights file it names (the only change)."""

from __future__ import annotations

import re
from pathlib import Path

import torch

from hicropl.clip.random import random_clip

README = Path(__file__).resolve().parents[1] / "README.md"
WEIGHTS = "~/weights/ViT-B-16.pt"
# 12 layers per tower and 224 px inputs like ViT-B/16, at a fraction of its width.
TWELVE_LAYER_TINY_CLIP = {
    "embed_dim": 32,
    "vision_cfg": {"image_size": 224, "layers": 12, "width": 64, "patch_size": 32, "head_width": 64},
    "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 64, "heads": 1, "layers": 12},
}


def python_quick_start() -> str:
    section = README.read_text("utf-8").split("## Quick start (Python)", 1)[1]
    (code,) = re.findall(r"```python\n(.*?)```", section.split("\n## ", 1)[0], flags=re.S)
    return code


def test_readme_python_quick_start_runs(tmp_path: Path) -> None:
    code = python_quick_start()
    assert code.count(WEIGHTS) == 1
    weights = tmp_path / "ViT-B-16.pt"
    torch.save(random_clip(TWELVE_LAYER_TINY_CLIP, seed=0).model.state_dict(), weights)
    namespace: dict[str, object] = {}
    exec(compile(code.replace(WEIGHTS, str(weights)), str(README), "exec"), namespace)
    logits = namespace["logits"]
    assert isinstance(logits, torch.Tensor) and logits.shape == (2, 2)
    method = namespace["method"]
    assert any(p.grad is not None for p in method.trainable_parameters())  # type: ignore[attr-defined]
