"""The image encoder skips positions nobody reads; the result must equal computing every position.

Tolerances as for shared-prefix encoding: features 1e-5 absolute (a different matmul shape reorders
fp32 sums on unit-scale features), gradients 1e-5 relative to each gradient tensor's largest entry.
"""

from __future__ import annotations

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from hicropl.clip import ImagePrompts

M = 3


def _layers(backbone, pattern: str, per_image: int | None = None) -> list[torch.Tensor | None]:
    """``pattern`` has one character per layer: ``p`` a prompt, ``.`` none."""
    gen = torch.Generator().manual_seed(0)
    shape = (M, backbone.vision_width) if per_image is None else (per_image, M, backbone.vision_width)
    return [torch.randn(*shape, generator=gen) * 0.5 if c == "p" else None for c in pattern]


def _encode(backbone, images, layers, prune: bool, **kwargs):
    leaves = [None if t is None else t.detach().clone().requires_grad_(True) for t in layers]
    backbone.image_encoder.prune_queries = prune
    try:
        prompts = ImagePrompts(layers=leaves, **kwargs) if layers else None
        features = backbone.encode_image(images, prompts)
    finally:
        backbone.image_encoder.prune_queries = True
    if any(t is not None for t in leaves):
        weights = torch.linspace(-1, 1, features.numel()).view_as(features)
        (features * weights).sum().backward()
    return features.detach(), [None if t is None else t.grad for t in leaves]


def _assert_equal_to_unpruned(backbone, images, layers, **kwargs) -> None:
    pruned, pruned_grads = _encode(backbone, images, layers, True, **kwargs)
    plain, plain_grads = _encode(backbone, images, layers, False, **kwargs)
    torch.testing.assert_close(pruned, plain, atol=1e-5, rtol=0)
    for index, (a, b) in enumerate(zip(pruned_grads, plain_grads, strict=True)):
        if b is None:
            continue
        scale = b.abs().max().clamp_min(1e-12)
        assert ((a - b).abs().max() / scale).item() < 1e-5, f"gradient of layer {index}"


@pytest.mark.parametrize("pattern", ["", "p", "pppp", "pp", "p.p.", "p..p", ".p"])
def test_pruned_encoding_equals_computing_every_position(tiny_backbone, pattern):
    images = torch.randn(3, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    _assert_equal_to_unpruned(tiny_backbone, images, _layers(tiny_backbone, pattern))


def test_pruned_encoding_with_per_image_prompts_and_checkpointing(tiny_backbone):
    images = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(2))
    layers = _layers(tiny_backbone, "pppp", per_image=2)
    tiny_backbone.image_encoder.gradient_checkpointing = True
    try:
        _assert_equal_to_unpruned(tiny_backbone, images, layers)
    finally:
        tiny_backbone.image_encoder.gradient_checkpointing = False


def test_reference_order_is_bit_identical_to_the_plain_path(tiny_backbone):
    images = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(3))
    layers = _layers(tiny_backbone, "pppp")
    opted_out, _ = _encode(tiny_backbone, images, layers, True, reference_order=True)
    tiny_backbone.image_encoder.fuse_mlp = False
    try:
        plain, _ = _encode(tiny_backbone, images, layers, False)
    finally:
        tiny_backbone.image_encoder.fuse_mlp = True
    assert torch.equal(opted_out, plain)


def test_pruning_removes_the_work_of_unread_positions(tiny_backbone):
    # 4 blocks over 17 + 3 tokens: with prompts at every layer, blocks 0-2 skip 3 query positions
    # and block 3 keeps only CLS, so the forward costs clearly less.
    images = torch.randn(2, 3, 32, 32)
    layers = _layers(tiny_backbone, "pppp")
    flops = {}
    for prune in (True, False):
        tiny_backbone.image_encoder.prune_queries = prune
        with FlopCounterMode(display=False) as counter, torch.no_grad():
            tiny_backbone.encode_image(images, ImagePrompts(layers=layers))
        flops[prune] = counter.get_total_flops()
    tiny_backbone.image_encoder.prune_queries = True
    assert flops[True] < 0.85 * flops[False]
