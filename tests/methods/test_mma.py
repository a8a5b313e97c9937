"""MMA against a plain computation on the tiny CLIP: the adapters' formula and placement, the authors'
gradient scaling, per-evaluation class features (the trace's ``eval_after_fresh``), the authors'
settings, and a changed number in its golden trace being reported."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from hicropl.errors import ConfigError
from hicropl.methods import ClassSet, build_method
from hicropl.methods import mma as mma_module
from hicropl.methods.authors_config import config_from_authors
from hicropl.methods.base import build_config
from hicropl.methods.mma import MMAConfig
from tests.methods.cases import CLASSNAMES
from tests.methods.reference_replay import REFERENCE_TRACES, TraceConfig
from tests.methods.test_reference_traces import replay_config

SMALL = {"adapter_start": 0, "adapter_end": 4, "adapter_dim": 8, "adapter_scale": 0.1}


def _build(backbone, seed: int = 0, **config):
    torch.manual_seed(seed)
    return build_method("mma", backbone, ClassSet(CLASSNAMES), {**SMALL, **config})


def _batch(n: int = 3) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(5)
    return torch.randn(n, 3, 32, 32, generator=gen), torch.arange(n) % len(CLASSNAMES)


def _adapter(method, tower: str, layer: int, h: torch.Tensor) -> torch.Tensor:
    adapter = getattr(method, f"{tower}_adapters")[str(layer)]
    shared = method.shared_projections[str(layer)]
    return adapter.up(F.relu(shared(F.relu(adapter.down(h)))))


def _plain_logits(method) -> torch.Tensor:
    """The authors' forward written out over open_clip's modules (no fast path, no gradient scaling)."""
    cfg, clip = method.config, method.backbone.model
    s, layers = cfg.adapter_scale, set(cfg.adapted_layers)
    images, _ = _batch()
    visual = clip.visual
    x = visual.ln_pre(method.backbone.image_encoder.embed(images))
    if 0 in layers:
        x = x + s * _adapter(method, "vision", 0, x)
    for index, block in enumerate(visual.transformer.resblocks, start=1):
        x = block(x) + (s * _adapter(method, "vision", index, block.ln_1(x)) if index in layers else 0)
    image = visual.ln_post(x[:, 0]) @ visual.proj
    tokens = method.tokenized_prompts
    t = clip.token_embedding(tokens)
    if 0 in layers:
        t = t + s * _adapter(method, "text", 0, t)
    t = t + clip.positional_embedding
    for index, block in enumerate(clip.transformer.resblocks, start=1):
        t = block(t, attn_mask=clip.attn_mask) + (
            s * _adapter(method, "text", index, block.ln_1(t)) if index in layers else 0
        )
    text = clip.ln_final(t[torch.arange(len(tokens)), tokens.argmax(-1)]) @ clip.text_projection
    return clip.logit_scale.exp() * F.normalize(image, dim=-1) @ F.normalize(text, dim=-1).t()


@pytest.mark.parametrize("layers", [(0, 4), (2, 3), (4, 4)])
def test_logits_equal_the_plain_computation(tiny_backbone, layers):
    method = _build(tiny_backbone, adapter_start=layers[0], adapter_end=layers[1])
    with torch.no_grad():  # the adapters start near zero effect at s = 0.1: make them matter
        for param in method.trainable_parameters():
            param.mul_(3.0)
    images, _ = _batch()
    with method.evaluating():
        ours = method(images).logits
    with torch.no_grad():
        plain = _plain_logits(method)
    torch.testing.assert_close(ours, plain, atol=1e-4, rtol=1e-5)
    with torch.no_grad():  # and the adapters change them
        image = F.normalize(tiny_backbone.encode_image(images), dim=-1)
        text = F.normalize(tiny_backbone.encode_text(method.tokenized_prompts), dim=-1)
    assert (ours - tiny_backbone.logit_scale * image @ text.t()).abs().max() > 1e-2


def _grads(method) -> dict[str, torch.Tensor]:
    images, labels = _batch()
    method.train()
    for param in method.trainable_parameters():
        param.grad = None
    method(images, labels).loss.backward()
    return {name: p.grad.clone() for name, p in method.named_parameters() if p.grad is not None}


@pytest.mark.parametrize("scale", [0.1, 0.001])
def test_adapter_gradients_of_blocks_are_divided_by_the_scale_and_the_input_layers_are_not(
    tiny_backbone, monkeypatch, scale
):
    method = _build(tiny_backbone, adapter_scale=scale)
    scaled = _grads(method)
    monkeypatch.setattr(mma_module, "scale_gradient", lambda x, factor: x)
    true = _grads(method)
    assert scaled.keys() == true.keys() and len(true) == 5 * 8 + 5 * 2
    for name, grad in true.items():
        layer = int(name.split(".")[1])
        expected = grad if layer == 0 else grad / scale
        error = ((scaled[name] - expected).abs().max() / expected.abs().max()).item()
        assert error < 1e-5, f"{name}: {error:.3g}"


def test_evaluation_uses_the_current_adapters_not_a_stale_cache(tiny_backbone):
    # The authors' CustomCLIP keeps the text features of its first evaluation for good; here each
    # evaluation computes them afresh (their trace's eval_after_fresh).
    method = _build(tiny_backbone, adapter_scale=0.5)
    images, labels = _batch()
    with method.evaluating():
        before = method(images).logits
    optimizer = torch.optim.SGD(method.trainable_parameters(), lr=0.5)
    method.train()
    method(images, labels).loss.backward()
    optimizer.step()
    with method.evaluating():
        after = method(images).logits
    fresh = _build(tiny_backbone, seed=1, adapter_scale=0.5)
    fresh.load_state_dict(method.state_dict())
    with fresh.evaluating():
        torch.testing.assert_close(fresh(images).logits, after, atol=0, rtol=0)
    assert not torch.allclose(before, after)


def test_defaults_are_the_authors_published_config():
    cfg = MMAConfig()
    assert (cfg.adapter_start, cfg.adapter_end, cfg.adapter_dim, cfg.adapter_scale, cfg.ctx_init) == (
        5,
        12,
        32,
        0.001,
        "a photo of a",
    )
    # The authors' train.py defaults apply where their yaml is silent.
    assert config_from_authors("mma", {}) == {
        "adapter_start": 4,
        "adapter_end": 12,
        "adapter_dim": 32,
        "adapter_scale": 0.1,
        "ctx_init": "",
    }


def test_class_prompts_are_the_fixed_text_and_the_class_name(tiny_backbone):
    method = _build(tiny_backbone)
    expected = tiny_backbone.tokenize(["a photo of a airplane.", "a photo of a golden retriever."])
    assert torch.equal(method.tokenized_prompts[:2], expected)
    assert torch.equal(_build(tiny_backbone, ctx_init="").tokenized_prompts[:1], tiny_backbone.tokenize(["airplane."]))


@pytest.mark.parametrize(
    ("field", "value"),
    [("adapter_start", -1), ("adapter_end", -1), ("adapter_dim", 0), ("adapter_scale", 0.0)],
)
def test_bad_config_values_name_the_field(field, value):
    with pytest.raises(ConfigError, match=field):
        build_config("mma", {field: value})


def test_adapters_deeper_than_the_backbone_are_refused(tiny_backbone):
    with pytest.raises(ConfigError, match="adapter_end: 5 exceeds the backbone's 4 layers"):
        _build(tiny_backbone, adapter_end=5)


# --- the golden trace ---------------------------------------------------------------------------
@pytest.fixture
def trace_copy(tmp_path: Path) -> TraceConfig:
    target = tmp_path / "mma"
    shutil.copytree(REFERENCE_TRACES / "mma", target)
    for path in target.rglob("*"):
        path.chmod(0o644 if path.is_file() else 0o755)
    return TraceConfig("mma", target, "L0to4_dim8_scale0.1")


@pytest.mark.parametrize(
    "key",
    [
        "eval_after_fresh.logits",
        "train2.loss",
        "train1.grad.adapter_learner.shared_adapter.3.0.weight",
        "train0.grad.adapter_learner.text_adapter.0.down.0.bias",
        "train0.params_after.adapter_learner.visual_adapter.2.up.weight",
    ],
)
def test_a_changed_trace_value_is_reported(trace_copy: TraceConfig, key: str) -> None:
    replay_config(trace_copy)  # the unchanged copy replays
    file = trace_copy.manifest_dir / "L0to4_dim8_scale0.1" / "trace.pt"
    trace = torch.load(file, weights_only=True)
    flat = trace[key].reshape(-1)
    index = flat.abs().argmax()
    flat[index] = flat[index] * (1 + 1e-3) + 1e-3
    torch.save(trace, file)
    with pytest.raises(AssertionError, match=key.replace(".", r"\.")):
        replay_config(trace_copy)


def test_the_stale_cache_evaluation_is_skipped_only_where_the_manifest_says_so(trace_copy: TraceConfig) -> None:
    manifest_file = trace_copy.manifest_dir / "manifest.json"
    manifest = json.loads(manifest_file.read_text())
    calls = manifest["configs"][trace_copy.name]["calls"]
    stale = next(call for call in calls if call["tag"] == "eval_after")
    stale["text_features_cache"] = "computed now"
    manifest_file.write_text(json.dumps(manifest))
    # Compared after all, the authors' stale-cache logits are not what this library computes.
    with pytest.raises(AssertionError, match=r"eval_after\.logits"):
        replay_config(trace_copy)
