"""Parallel side branches (SideBranches) against a plain computation over open_clip's own modules, and
every fast path with branches against the path it replaces: query pruning, truncation, shared-prefix
text encoding, gradient checkpointing, the reference order. Tolerances in tests/clip/exactness.py."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from hicropl.clip import ImagePrompts, TextPrompts
from hicropl.clip.encoders import SideBranches
from tests.clip.exactness import assert_same_features_and_grads, features_and_prompt_grads

SCALE = 0.3
RANK = 5
SENTENCES = ["X X X dog.", "X X X golden retriever.", "X X X a very long class name with many words."]


def _weights(width: int, pattern: str, seed: int = 0) -> list[torch.Tensor | None]:
    """Two matrices per branch layer (``b`` in ``pattern``: one character per layer, 0 = the input)."""
    gen = torch.Generator().manual_seed(seed)
    weights: list[torch.Tensor | None] = []
    for c in pattern:
        pair = [torch.randn(width, RANK, generator=gen) * 0.3, torch.randn(RANK, width, generator=gen) * 0.3]
        weights += pair if c == "b" else [None, None]
    return weights


def _branches(leaves: list[torch.Tensor | None]) -> SideBranches:
    """A position-wise two-layer MLP per layer from consecutive pairs of ``leaves``."""
    layers = []
    for down, up in zip(leaves[::2], leaves[1::2], strict=True):
        layers.append(None if down is None else (lambda h, d=down, u=up: F.relu(h @ d) @ u))
    return SideBranches(layers=layers, scale=SCALE)


# --- the plain computations ---------------------------------------------------------------------
def _plain_image(backbone, images: torch.Tensor, branches: SideBranches) -> torch.Tensor:
    visual = backbone.model.visual
    layers = list(branches.layers) + [None] * (len(visual.transformer.resblocks) + 1 - len(branches.layers))
    x = visual.ln_pre(backbone.image_encoder.embed(images))
    if layers[0] is not None:
        x = x + SCALE * layers[0](x)
    for block, branch in zip(visual.transformer.resblocks, layers[1:], strict=True):
        x = block(x) + (SCALE * branch(block.ln_1(x)) if branch is not None else 0)
    return visual.ln_post(x[:, 0]) @ visual.proj


def _plain_text(backbone, tokens: torch.Tensor, branches: SideBranches) -> torch.Tensor:
    clip = backbone.model
    layers = list(branches.layers) + [None] * (len(clip.transformer.resblocks) + 1 - len(branches.layers))
    x = clip.token_embedding(tokens)
    if layers[0] is not None:
        x = x + SCALE * layers[0](x)
    x = x + clip.positional_embedding
    for block, branch in zip(clip.transformer.resblocks, layers[1:], strict=True):
        x = block(x, attn_mask=clip.attn_mask) + (SCALE * branch(block.ln_1(x)) if branch is not None else 0)
    return clip.ln_final(x[torch.arange(x.shape[0]), tokens.argmax(dim=-1)]) @ clip.text_projection


def _images(count: int = 3) -> torch.Tensor:
    return torch.randn(count, 3, 32, 32, generator=torch.Generator().manual_seed(1))


PATTERNS = ["b....", ".bbbb", "bb.b.", "....b", "bb"]


# --- image tower --------------------------------------------------------------------------------
@pytest.mark.parametrize("pattern", PATTERNS)
@pytest.mark.parametrize("reference_order", [False, True])
def test_image_branches_equal_the_plain_computation(tiny_backbone, pattern, reference_order):
    images, weights = _images(), _weights(tiny_backbone.vision_width, pattern)
    tiny_backbone.reference_order = reference_order
    try:
        ours = features_and_prompt_grads(
            lambda leaves: tiny_backbone.encode_image(images, branches=_branches(leaves)), weights
        )
    finally:
        tiny_backbone.reference_order = False
    plain = features_and_prompt_grads(lambda leaves: _plain_image(tiny_backbone, images, _branches(leaves)), weights)
    assert_same_features_and_grads(ours, plain)


def _encode_image(backbone, images, n_prompt_layers: int, prune: bool, checkpointing: bool = False):
    """Features and gradients w.r.t. deep prompts and branch weights together."""
    prompts = [torch.randn(2, backbone.vision_width, generator=torch.Generator().manual_seed(i)) for i in range(4)]
    weights = _weights(backbone.vision_width, "bbbbb")

    def encode(leaves):
        encoder = backbone.image_encoder
        encoder.prune_queries, encoder.gradient_checkpointing = prune, checkpointing
        try:
            layers = ImagePrompts(layers=leaves[:n_prompt_layers])
            return backbone.encode_image(images, layers, branches=_branches(leaves[n_prompt_layers:]))
        finally:
            encoder.prune_queries, encoder.gradient_checkpointing = True, False

    return features_and_prompt_grads(encode, prompts[:n_prompt_layers] + weights)


@pytest.mark.parametrize("n_prompt_layers", [0, 1, 4])
def test_query_pruning_stays_exact_with_branches(tiny_backbone, n_prompt_layers):
    images = _images()
    pruned = _encode_image(tiny_backbone, images, n_prompt_layers, prune=True)
    assert_same_features_and_grads(pruned, _encode_image(tiny_backbone, images, n_prompt_layers, prune=False))


def test_gradient_checkpointing_with_branches_matches_plain_backward(tiny_backbone):
    images = _images(2)
    checkpointed = _encode_image(tiny_backbone, images, 4, prune=True, checkpointing=True)
    assert_same_features_and_grads(checkpointed, _encode_image(tiny_backbone, images, 4, prune=True))


# --- text tower ---------------------------------------------------------------------------------
@pytest.mark.parametrize("pattern", PATTERNS)
@pytest.mark.parametrize(("truncate", "reference_order"), [(True, False), (False, False), (True, True)])
def test_text_branches_equal_the_plain_computation(tiny_backbone, pattern, truncate, reference_order):
    tokens = tiny_backbone.tokenize(["a photo of a dog.", "a photo of a golden retriever.", "pizza."])
    weights = _weights(tiny_backbone.text_width, pattern)
    encoder = tiny_backbone.text_encoder

    def encode(leaves):
        tiny_backbone.reference_order = reference_order
        try:
            return encoder(tokens, truncate=truncate, branches=_branches(leaves))
        finally:
            tiny_backbone.reference_order = False

    ours = features_and_prompt_grads(encode, weights)
    plain = features_and_prompt_grads(lambda leaves: _plain_text(tiny_backbone, tokens, _branches(leaves)), weights)
    assert_same_features_and_grads(ours, plain)


@pytest.mark.parametrize("depth", [1, 3])
def test_shared_prefix_stays_exact_with_branches(tiny_backbone, monkeypatch, depth):
    tokens = tiny_backbone.tokenize(SENTENCES)
    gen = torch.Generator().manual_seed(depth)
    prompts = [torch.randn(3, tiny_backbone.text_width, generator=gen) * 0.1 for _ in range(depth)]
    weights = _weights(tiny_backbone.text_width, "bb.bb")
    encoder = tiny_backbone.text_encoder
    calls = []
    shared = encoder._shared_prefix_forward
    monkeypatch.setattr(encoder, "_shared_prefix_forward", lambda *a, **k: calls.append(1) or shared(*a, **k))

    def encode(share: bool):
        def run(leaves):
            encoder.share_prefix = share
            try:
                return tiny_backbone.encode_text(
                    tokens, TextPrompts(layers=leaves[:depth]), branches=_branches(leaves[depth:])
                )
            finally:
                encoder.share_prefix = True

        return features_and_prompt_grads(run, prompts + weights)

    fast = encode(True)
    assert calls, "the shared-prefix path ran"
    assert_same_features_and_grads(fast, encode(False))


def test_branches_beyond_the_towers_depth_are_refused(tiny_backbone):
    too_deep = SideBranches(layers=[None] * (tiny_backbone.vision_layers + 2))
    with pytest.raises(ValueError, match="side branches given for 6 layers"):
        tiny_backbone.encode_image(_images(1), branches=too_deep)
    with pytest.raises(ValueError, match="side branches given for 6 layers"):
        tiny_backbone.encode_text(["a dog."], branches=too_deep)


def test_no_branches_and_empty_branches_give_the_same_features(tiny_backbone):
    images = _images(2)
    plain = tiny_backbone.encode_image(images)
    torch.testing.assert_close(tiny_backbone.encode_image(images, branches=SideBranches()), plain, atol=0, rtol=0)


@pytest.mark.parametrize(
    ("sentences", "shares"),
    [
        (["a photo of a dog.", "a photo of a golden retriever.", "a photo of a cat in a very long name."], True),
        (["a photo of a dog.", "a photo of a dog."], True),  # identical sequences: the EOTs stay out
        (["dog.", "golden retriever."], False),  # only SOS in common
    ],
)
def test_fixed_leading_text_is_shared_with_branches_and_exact(tiny_backbone, monkeypatch, sentences, shares):
    tokens = tiny_backbone.tokenize(sentences)
    weights = _weights(tiny_backbone.text_width, "bbbbb")
    encoder = tiny_backbone.text_encoder
    calls = []
    shared = encoder._shared_prefix_forward
    monkeypatch.setattr(encoder, "_shared_prefix_forward", lambda *a, **k: calls.append(a[2]) or shared(*a, **k))

    def encode(share: bool):
        def run(leaves):
            encoder.share_prefix = share
            try:
                return tiny_backbone.encode_text(tokens, branches=_branches(leaves))
            finally:
                encoder.share_prefix = True

        return features_and_prompt_grads(run, weights)

    fast = encode(True)
    assert bool(calls) == shares
    if shares:
        # "a photo of a": 4 tokens after SOS; identical sequences share everything before their EOT.
        assert calls[0] == (6 if len(set(sentences)) == 1 else 4)
    assert_same_features_and_grads(fast, encode(False))
    plain = features_and_prompt_grads(lambda leaves: _plain_text(tiny_backbone, tokens, _branches(leaves)), weights)
    assert_same_features_and_grads(fast, plain)
