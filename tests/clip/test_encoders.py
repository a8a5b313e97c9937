"""Prompt-able encoders against open_clip, truncation exactness, and gradient flow."""

from __future__ import annotations

import copy

import pytest
import torch

from hicropl.clip import ImagePrompts, TextPrompts

TEXTS = ["a photo of a dog.", "a tabby cat sleeping on a very long sofa in the afternoon sun.", "x"]


def test_image_without_prompts_equals_open_clip(tiny_backbone):
    images = torch.randn(4, 3, 32, 32)
    ours = tiny_backbone.encode_image(images)
    reference = tiny_backbone.model.encode_image(images)
    torch.testing.assert_close(ours, reference, atol=1e-5, rtol=0)


def test_text_without_prompts_equals_open_clip(tiny_backbone):
    tokens = tiny_backbone.tokenize(TEXTS)
    torch.testing.assert_close(
        tiny_backbone.encode_text(TEXTS), tiny_backbone.model.encode_text(tokens), atol=1e-5, rtol=0
    )
    # Normalised output equals open_clip's normalised output too.
    torch.testing.assert_close(
        tiny_backbone.encode_text(tokens, normalize=True),
        tiny_backbone.model.encode_text(tokens, normalize=True),
        atol=1e-5,
        rtol=0,
    )


def _text_prompts(backbone, m: int, depth: int, per_class: int | None = None, seed: int = 0) -> TextPrompts:
    gen = torch.Generator().manual_seed(seed)
    shape = (m, backbone.text_width) if per_class is None else (per_class, m, backbone.text_width)
    return TextPrompts(layers=[torch.randn(*shape, generator=gen) * 0.1 for _ in range(depth)])


@pytest.mark.parametrize("depth", [1, 2, 3])
@pytest.mark.parametrize("per_class", [None, 3])
def test_truncated_text_equals_full_length(tiny_backbone, depth, per_class):
    tokens = tiny_backbone.tokenize(["X X X X dog.", "X X X X golden retriever puppy.", "X X X X cat."])
    prompts = _text_prompts(tiny_backbone, 4, depth, per_class)
    short = tiny_backbone.text_encoder(tokens, prompts, truncate=True)
    full = tiny_backbone.text_encoder(tokens, prompts, truncate=False)
    torch.testing.assert_close(short, full, atol=1e-5, rtol=1e-5)


def test_first_layer_text_context_is_written_at_positions_after_sos(tiny_backbone):
    # Writing the words' own token embeddings as the context must reproduce the plain sentence.
    tokens = tiny_backbone.tokenize(["a photo of a dog."])
    ctx = tiny_backbone.text_encoder.token_embeddings(tokens)[0, 1:5]
    placeholder = tiny_backbone.tokenize(["X X X X dog."])
    prompted = tiny_backbone.encode_text(placeholder, TextPrompts(layers=[ctx]))
    torch.testing.assert_close(prompted, tiny_backbone.encode_text(tokens), atol=1e-5, rtol=0)


def test_deep_prompt_replaces_positions_before_its_layer(tiny_backbone):
    tokens = tiny_backbone.tokenize(["X X dog."])
    prompts = _text_prompts(tiny_backbone, 2, 2)
    with_deep = tiny_backbone.encode_text(tokens, prompts)
    shallow = tiny_backbone.encode_text(tokens, TextPrompts(layers=[prompts.layers[0]]))
    assert not torch.allclose(with_deep, shallow)
    # None at a deeper layer keeps the previous block's states: same as giving no deep prompt.
    kept = tiny_backbone.encode_text(tokens, TextPrompts(layers=[prompts.layers[0], None]))
    torch.testing.assert_close(kept, shallow, atol=0, rtol=0)


def test_image_prompts_change_features_and_deep_layers_replace_tokens(tiny_backbone):
    images = torch.randn(2, 3, 32, 32)
    gen = torch.Generator().manual_seed(1)
    p0, p1 = (torch.randn(3, tiny_backbone.vision_width, generator=gen) for _ in range(2))
    plain = tiny_backbone.encode_image(images)
    shallow = tiny_backbone.encode_image(images, ImagePrompts(layers=[p0]))
    deep = tiny_backbone.encode_image(images, ImagePrompts(layers=[p0, p1]))
    assert not torch.allclose(plain, shallow) and not torch.allclose(shallow, deep)
    # Per-image prompts equal to the shared prompt give the same result.
    batched = tiny_backbone.encode_image(images, ImagePrompts(layers=[p0.expand(2, -1, -1), p1]))
    torch.testing.assert_close(batched, deep, atol=1e-6, rtol=0)


def test_too_deep_prompts_are_refused(tiny_backbone):
    layers = [torch.zeros(2, tiny_backbone.vision_width)] * (tiny_backbone.vision_layers + 1)
    with pytest.raises(ValueError, match="layers"):
        tiny_backbone.encode_image(torch.randn(1, 3, 32, 32), ImagePrompts(layers=layers))


def test_gradients_reach_prompts_and_backbone_is_bit_identical_after_a_step(tiny_backbone):
    before = copy.deepcopy(tiny_backbone.model.state_dict())
    text = _text_prompts(tiny_backbone, 2, 3)
    gen = torch.Generator().manual_seed(2)
    image_layers = [torch.randn(2, tiny_backbone.vision_width, generator=gen) for _ in range(3)]
    params = [torch.nn.Parameter(t) for t in [*text.layers, *image_layers]]
    text_params, image_params = params[:3], params[3:]
    optimizer = torch.optim.SGD(params, lr=0.1)
    tokens = tiny_backbone.tokenize(["X X dog.", "X X cat."])
    image_features = tiny_backbone.encode_image(
        torch.randn(2, 3, 32, 32), ImagePrompts(layers=image_params), normalize=True
    )
    text_features = tiny_backbone.encode_text(tokens, TextPrompts(layers=text_params), normalize=True)
    loss = torch.nn.functional.cross_entropy(image_features @ text_features.t() * 10, torch.tensor([0, 1]))
    loss.backward()
    for p in params:
        assert p.grad is not None and p.grad.abs().sum() > 0
    assert all(p.grad is None for p in tiny_backbone.parameters())
    assert not any(p.requires_grad for p in tiny_backbone.parameters())
    optimizer.step()
    after = tiny_backbone.model.state_dict()
    for key, value in before.items():
        assert torch.equal(value, after[key]), key


def test_gradient_checkpointing_matches_plain_backward(tiny_backbone):
    images = torch.randn(2, 3, 32, 32)
    prompt = torch.nn.Parameter(torch.randn(2, tiny_backbone.vision_width))
    grads = []
    for flag in (False, True):
        tiny_backbone.image_encoder.gradient_checkpointing = flag
        prompt.grad = None
        tiny_backbone.encode_image(images, ImagePrompts(layers=[prompt, prompt])).sum().backward()
        grads.append(prompt.grad.clone())
    tiny_backbone.image_encoder.gradient_checkpointing = False
    torch.testing.assert_close(grads[0], grads[1], atol=1e-5, rtol=1e-5)


def test_backbone_stays_in_eval_mode(tiny_backbone):
    tiny_backbone.train()
    assert not tiny_backbone.training and not tiny_backbone.model.training


@pytest.mark.parametrize("tower", ["visual", "text"])
def test_batch_first_block_equals_the_open_clip_block_with_gradients(tiny_backbone, tower):
    # The encoders run each block's weights batch-first instead of calling the block (faster training
    # path); values and input gradients must match the open_clip module, with and without a causal mask.
    from hicropl.clip.encoders import _batch_first_block, _supports_split_attention

    model = tiny_backbone.model
    blocks = (model.visual.transformer if tower == "visual" else model.transformer).resblocks
    width = model.visual.transformer.width if tower == "visual" else model.transformer.width
    length = 9
    mask = None if tower == "visual" else torch.full((length, length), float("-inf")).triu(1)
    for block in blocks:
        assert _supports_split_attention(block)
        x = torch.randn(3, length, width, generator=torch.Generator().manual_seed(1))
        ours_in, ref_in = x.clone().requires_grad_(), x.clone().requires_grad_()
        ours = _batch_first_block(block, ours_in, mask, length)
        reference = block(ref_in, attn_mask=mask)
        torch.testing.assert_close(ours, reference, atol=1e-5, rtol=0)
        ours.pow(2).sum().backward()
        reference.pow(2).sum().backward()
        torch.testing.assert_close(ours_in.grad, ref_in.grad, atol=1e-4, rtol=1e-5)


@pytest.mark.parametrize("share_prefix", [True, False])
def test_per_class_deep_prompt_equals_each_class_encoded_alone(tiny_backbone, share_prefix):
    # One [m, d] prompt per class at a deep layer ([C, m, d]) is each class run on its own with its prompt.
    tokens = tiny_backbone.tokenize(["X X X X dog.", "X X X X golden retriever puppy.", "X X X X cat."])
    gen = torch.Generator().manual_seed(3)
    ctx = torch.randn(4, tiny_backbone.text_width, generator=gen) * 0.1
    per_class = torch.randn(3, 4, tiny_backbone.text_width, generator=gen) * 0.1
    encoder = tiny_backbone.text_encoder
    encoder.share_prefix = share_prefix
    try:
        together = tiny_backbone.encode_text(tokens, TextPrompts(layers=[ctx, None, per_class]))
        alone = torch.cat(
            [
                tiny_backbone.encode_text(tokens[c : c + 1], TextPrompts(layers=[ctx, None, per_class[c]]))
                for c in range(3)
            ]
        )
    finally:
        encoder.share_prefix = True
    torch.testing.assert_close(together, alone, atol=1e-5, rtol=0)
    shared = tiny_backbone.encode_text(tokens, TextPrompts(layers=[ctx, None, per_class[0]]))
    assert not torch.allclose(together[1:], shared[1:]), "each class's prompt must reach its own sequence"
