"""Shared-prefix text encoding equals the plain computation: features and gradients w.r.t. every prompt.

Tolerances in tests/clip/exactness.py.
"""

from __future__ import annotations

import pytest
import torch

from hicropl.clip import TextPrompts
from hicropl.clip.encoders import GROUP_COST_IN_ROWS, length_groups
from hicropl.methods import ClassSet, build_method
from tests.clip.exactness import assert_same_features_and_grads, features_and_prompt_grads
from tests.methods.cases import CLASSNAMES, DESCRIPTIONS

SENTENCES = ["X X X dog.", "X X X golden retriever.", "X X X a very long class name with many words."]


def _encode(backbone, tokens, layers, share: bool, **kwargs):
    def encode(leaves):
        backbone.text_encoder.share_prefix = share
        try:
            return backbone.encode_text(tokens, TextPrompts(layers=leaves, **kwargs))
        finally:
            backbone.text_encoder.share_prefix = True

    return features_and_prompt_grads(encode, layers)


def _compare(backbone, tokens, layers, **kwargs) -> None:
    assert_same_features_and_grads(
        _encode(backbone, tokens, layers, True, **kwargs), _encode(backbone, tokens, layers, False, **kwargs)
    )


def _prompts(backbone, m: int, depth: int, gaps: tuple[int, ...] = ()) -> list[torch.Tensor | None]:
    gen = torch.Generator().manual_seed(m * 10 + depth)
    return [None if i in gaps else torch.randn(m, backbone.text_width, generator=gen) * 0.1 for i in range(depth)]


@pytest.mark.parametrize(
    ("label", "depth", "gaps"),
    [("coop-shallow", 1, ()), ("maple-deep", 3, ()), ("deep-with-gaps", 4, (2,)), ("full-depth", 4, ())],
)
def test_shared_prefix_matches_plain(tiny_backbone, label, depth, gaps):
    tokens = tiny_backbone.tokenize(SENTENCES)
    _compare(tiny_backbone, tokens, _prompts(tiny_backbone, 3, depth, gaps))


@pytest.mark.parametrize("variant", ["paper", "official"])
def test_hicropl_prompt_structures(tiny_backbone, variant):
    torch.manual_seed(0)
    method = build_method(
        "hicropl",
        tiny_backbone,
        ClassSet(CLASSNAMES, descriptions=DESCRIPTIONS),
        {"n_ctx": 2, "depth": 4, "boundary": 2, "variant": variant},
    )
    with torch.no_grad():
        text_layers, _ = method.prompt_learner()
    _compare(tiny_backbone, method.tokenized_prompts, list(text_layers))


def _forbid_sharing(monkeypatch, backbone):
    def fail(*args, **kwargs):
        raise AssertionError("the shared-prefix path must not run here")

    monkeypatch.setattr(backbone.text_encoder, "_shared_prefix_forward", fail)


def test_class_specific_context_falls_back(tiny_backbone, monkeypatch):
    tokens = tiny_backbone.tokenize(SENTENCES)
    per_class = torch.randn(3, 3, tiny_backbone.text_width)
    _forbid_sharing(monkeypatch, tiny_backbone)
    tiny_backbone.encode_text(tokens, TextPrompts(layers=[per_class]))


def test_per_image_context_falls_back(tiny_backbone, monkeypatch):
    # CoCoOp-style: a context per (image, class) pair, flattened to one per sequence.
    tokens = tiny_backbone.tokenize(SENTENCES).repeat(2, 1)
    per_sequence = torch.randn(6, 3, tiny_backbone.text_width)
    _forbid_sharing(monkeypatch, tiny_backbone)
    tiny_backbone.encode_text(tokens, TextPrompts(layers=[per_sequence]))


def test_front_and_middle_class_positions_fall_back(tiny_backbone, monkeypatch):
    tokens = tiny_backbone.tokenize(["dog X X X.", "cat X X X."])
    embeddings = tiny_backbone.text_encoder.token_embeddings(tokens)
    _forbid_sharing(monkeypatch, tiny_backbone)
    tiny_backbone.encode_text(tokens, TextPrompts(embeddings=embeddings))
    tiny_backbone.encode_text(tokens, TextPrompts(layers=[torch.zeros(3, tiny_backbone.text_width)], start=2))


def test_shared_prefix_is_used_for_shared_prompts(tiny_backbone, monkeypatch):
    calls = []
    original = tiny_backbone.text_encoder._shared_prefix_forward

    def spy(*args, **kwargs):
        calls.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(tiny_backbone.text_encoder, "_shared_prefix_forward", spy)
    tiny_backbone.encode_text(tiny_backbone.tokenize(SENTENCES), TextPrompts(layers=_prompts(tiny_backbone, 3, 2)))
    assert calls == [1]


def test_length_groups_partition_rows_and_never_cost_more_than_one_group():
    lengths = torch.tensor([3, 3, 4, 12, 3, 11, 4, 30, 3, 3])
    groups = length_groups(lengths, group_cost=4)
    rows = torch.cat([r for r, _ in groups]).sort().values
    assert torch.equal(rows, torch.arange(len(lengths)))
    for members, length in groups:
        assert length == int(lengths[members].max())
    padded = sum(len(members) * length for members, length in groups) + 4 * (len(groups) - 1)
    assert padded < len(lengths) * int(lengths.max())
    assert len(groups) > 1
    # Equal lengths, or a group cost larger than any saving, keep a single group.
    assert len(length_groups(torch.tensor([5, 5, 5]))) == 1
    assert len(length_groups(lengths, group_cost=10_000)) == 1


def test_length_grouping_matches_one_group_and_plain(tiny_backbone, monkeypatch):
    # Very different lengths and free groups: several groups, each cut after its own longest EOT.
    monkeypatch.setitem(GROUP_COST_IN_ROWS, "cpu", 1)
    tokens = tiny_backbone.tokenize([*SENTENCES, "X X X cat.", "X X X an even longer name for a very small dog."])
    layers = _prompts(tiny_backbone, 3, 4)
    encoder = tiny_backbone.text_encoder
    assert len(length_groups(tokens.argmax(-1) - 3)) > 2
    _compare(tiny_backbone, tokens, layers)
    grouped = _encode(tiny_backbone, tokens, layers, True)
    encoder.group_lengths = False
    try:
        single = _encode(tiny_backbone, tokens, layers, True)
    finally:
        encoder.group_lengths = True
    assert_same_features_and_grads(grouped, single)


def test_reference_order_is_the_plain_full_length_computation(tiny_backbone):
    # The authors' order: every sequence at its full context length, no shared prefix, open_clip's MLP.
    tokens = tiny_backbone.tokenize(SENTENCES)
    layers = _prompts(tiny_backbone, 3, 3)
    text = tiny_backbone.text_encoder
    with torch.no_grad(), tiny_backbone.using_reference_order():
        exact = tiny_backbone.encode_text(tokens, TextPrompts(layers=layers))
    text.share_prefix, text.fuse_mlp = False, False
    try:
        with torch.no_grad():
            plain = text(tokens, TextPrompts(layers=layers), truncate=False)
            truncated = text(tokens, TextPrompts(layers=layers), truncate=True)
    finally:
        text.share_prefix, text.fuse_mlp = True, True
    assert torch.equal(exact, plain)
    torch.testing.assert_close(exact, truncated, atol=1e-5, rtol=0)  # truncation is exact up to round-off


def _per_class_layers(backbone, m: int, count: int, layer: int, per_class_m: int) -> list[torch.Tensor | None]:
    """A shared first-layer context, then one prompt per class before ``layer`` (TCP's structure)."""
    gen = torch.Generator().manual_seed(7 + m + layer)
    layers: list[torch.Tensor | None] = [torch.randn(m, backbone.text_width, generator=gen) * 0.1]
    layers += [None] * (layer - 1) + [torch.randn(count, per_class_m, backbone.text_width, generator=gen) * 0.1]
    return layers


@pytest.mark.parametrize(("m", "layer", "per_class_m"), [(4, 2, 4), (4, 1, 4), (2, 3, 4), (4, 3, 2)])
def test_per_class_deep_prompt_shares_the_prefix_until_its_layer(tiny_backbone, monkeypatch, m, layer, per_class_m):
    # Shared [m, d] context, then [C, m', d] per-class tokens: the prefix is shared before that layer,
    # every sequence runs whole from it on; equal to the plain path, length groups included.
    monkeypatch.setitem(GROUP_COST_IN_ROWS, "cpu", 1)
    sentences = [*SENTENCES, "X X X cat.", "X X X an even longer name for a very small dog."]
    tokens = tiny_backbone.tokenize([s.replace("X X X", "X X X X") for s in sentences])
    layers = _per_class_layers(tiny_backbone, m, len(sentences), layer, per_class_m)
    assert len(length_groups(tokens.argmax(-1) - m)) > 1
    _compare(tiny_backbone, tokens, layers)
    encoder = tiny_backbone.text_encoder
    encoder.group_lengths = False
    try:
        _compare(tiny_backbone, tokens, layers)
    finally:
        encoder.group_lengths = True


def test_per_class_deep_prompt_uses_the_shared_prefix_and_checks_its_rows(tiny_backbone, monkeypatch):
    calls = []
    original = tiny_backbone.text_encoder._shared_prefix_forward

    def spy(*args, **kwargs):
        calls.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(tiny_backbone.text_encoder, "_shared_prefix_forward", spy)
    tokens = tiny_backbone.tokenize(SENTENCES)
    tiny_backbone.encode_text(tokens, TextPrompts(layers=_per_class_layers(tiny_backbone, 3, 3, 2, 3)))
    assert calls == [1]
    with pytest.raises(ValueError, match="per-sequence prompt has 4 rows for a batch of 3"):
        tiny_backbone.encode_text(tokens, TextPrompts(layers=_per_class_layers(tiny_backbone, 3, 4, 2, 3)))
