"""The image encoder skips positions nobody reads; the result must equal computing every position
(tolerances in tests/clip/exactness.py)."""

from __future__ import annotations

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from hicropl.clip import ImagePrompts
from tests.clip.exactness import assert_same_features_and_grads, features_and_prompt_grads

M = 3


def _layers(backbone, pattern: str, per_image: int | None = None) -> list[torch.Tensor | None]:
    """``pattern`` has one character per layer: ``p`` a prompt, ``.`` none."""
    gen = torch.Generator().manual_seed(0)
    shape = (M, backbone.vision_width) if per_image is None else (per_image, M, backbone.vision_width)
    return [torch.randn(*shape, generator=gen) * 0.5 if c == "p" else None for c in pattern]


def _encode(backbone, images, layers, prune: bool):
    def encode(leaves):
        backbone.image_encoder.prune_queries = prune
        try:
            return backbone.encode_image(images, ImagePrompts(layers=leaves) if leaves else None)
        finally:
            backbone.image_encoder.prune_queries = True

    return features_and_prompt_grads(encode, layers)


def _assert_equal_to_unpruned(backbone, images, layers) -> None:
    assert_same_features_and_grads(_encode(backbone, images, layers, True), _encode(backbone, images, layers, False))


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
    with tiny_backbone.using_reference_order():
        opted_out, _ = _encode(tiny_backbone, images, layers, True)
    assert not tiny_backbone.reference_order  # the context restores the default
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
