"""QuickGELU MLPs run as silu with the 1.702 scalings folded into the matmuls; this must equal
open_clip's module in values and gradients, and must really replace it (no QuickGELU call).

Tolerance: 1e-5 absolute on unit-scale activations and features, the fp32 round-off of a reordered
scaling; gradients 1e-5 relative to each gradient's largest entry.
"""

from __future__ import annotations

import pytest
import torch

from hicropl.clip import ImagePrompts, TextPrompts
from hicropl.clip.encoders import _has_fusable_mlp, _mlp_residual


def test_tiny_clip_uses_quick_gelu(tiny_backbone):
    # The fused path is only exercised if the test model has OpenAI's activation.
    model = tiny_backbone.model
    assert all(_has_fusable_mlp(b) for b in [*model.visual.transformer.resblocks, *model.transformer.resblocks])


@pytest.mark.parametrize("tower", ["visual", "text"])
def test_fused_mlp_equals_the_open_clip_mlp_with_gradients(tiny_backbone, tower):
    model = tiny_backbone.model
    blocks = model.visual.transformer.resblocks if tower == "visual" else model.transformer.resblocks
    width = blocks[0].mlp.c_fc.in_features
    for block in blocks:
        x = torch.randn(3, 7, width, generator=torch.Generator().manual_seed(4))
        ours_in, ref_in = x.clone().requires_grad_(), x.clone().requires_grad_()
        ours = _mlp_residual(block, ours_in, fused=True)
        reference = ref_in + block.ls_2(block.mlp(block.ln_2(ref_in)))
        torch.testing.assert_close(ours, reference, atol=1e-5, rtol=0)
        weights = torch.linspace(-1, 1, ours.numel()).view_as(ours)
        (ours * weights).sum().backward()
        (reference * weights).sum().backward()
        scale = ref_in.grad.abs().max()
        assert ((ours_in.grad - ref_in.grad).abs().max() / scale).item() < 1e-5


def _quick_gelu_calls(backbone, fn) -> int:
    calls = []
    blocks = [*backbone.model.visual.transformer.resblocks, *backbone.model.transformer.resblocks]
    hooks = [block.mlp.gelu.register_forward_hook(lambda *_: calls.append(1)) for block in blocks]
    try:
        fn()
    finally:
        for hook in hooks:
            hook.remove()
    return len(calls)


def test_encoders_use_the_fused_mlp_unless_reference_order_is_asked(tiny_backbone):
    images = torch.randn(2, 3, 32, 32)
    tokens = tiny_backbone.tokenize(["X X dog.", "X X cat."])
    ctx = [torch.randn(2, tiny_backbone.text_width)]
    assert _quick_gelu_calls(tiny_backbone, lambda: tiny_backbone.encode_image(images)) == 0
    assert _quick_gelu_calls(tiny_backbone, lambda: tiny_backbone.encode_text(tokens, TextPrompts(layers=ctx))) == 0
    # Prompt-free text features are computed once per class set and keep open_clip's own path.
    text_layers = tiny_backbone.text_encoder.layers
    assert _quick_gelu_calls(tiny_backbone, lambda: tiny_backbone.encode_text(tokens)) == text_layers
    layers = tiny_backbone.vision_layers
    tiny_backbone.reference_order = True
    try:
        exact_image = _quick_gelu_calls(tiny_backbone, lambda: tiny_backbone.encode_image(images, ImagePrompts()))
        exact_text = _quick_gelu_calls(
            tiny_backbone, lambda: tiny_backbone.encode_text(tokens, TextPrompts(layers=ctx))
        )
    finally:
        tiny_backbone.reference_order = False
    assert exact_image == layers and exact_text == tiny_backbone.text_encoder.layers


def test_fused_and_module_encoders_agree(tiny_backbone):
    images = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(5))
    fused = tiny_backbone.encode_image(images)
    tiny_backbone.image_encoder.fuse_mlp = False
    try:
        plain = tiny_backbone.encode_image(images)
    finally:
        tiny_backbone.image_encoder.fuse_mlp = True
    torch.testing.assert_close(fused, plain, atol=1e-5, rtol=0)
