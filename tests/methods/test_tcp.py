"""TCP's defining properties against the plain computation, on the tiny CLIP.

The shared matrix (test_matrix.py) covers shapes, learning parameters, seeding and state round trips;
the golden traces (test_reference_traces.py) the authors' numbers. Here: the class-aware tokens are
the meta-net of each class's own frozen feature, injected as that class's deep prompt; the loss; the
authors' template tables; what the config refuses.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from hicropl.clip.encoders import TextPrompts
from hicropl.clip.features import template_features
from hicropl.errors import ConfigError
from hicropl.methods import ClassSet, MethodRuntime, build_method
from hicropl.methods.authors_config import config_from_authors
from hicropl.methods.tcp import TCPConfig
from tests.methods.cases import CLASSNAMES

CLASSES = ClassSet(CLASSNAMES, dataset="EuroSAT")


def build(backbone, classes: ClassSet = CLASSES, seed: int = 0, runtime=None, **config):
    torch.manual_seed(seed)
    return build_method("tcp", backbone, classes, {"inject_layer": 2, **config}, runtime)


def test_defaults_are_the_published_config():
    cfg = TCPConfig()
    assert (cfg.n_ctx, cfg.ctx_init, cfg.inject_layer, cfg.kg_weight) == (4, "", 8, 8.0)


def test_class_features_are_each_class_encoded_with_its_own_tokens(tiny_backbone):
    method = build(tiny_backbone)
    with torch.no_grad():
        torch.nn.init.normal_(method.meta_net.linear2.weight, std=0.5)  # tokens far from zero
        features = method.class_features()
        tokens = method.meta_net(method.clip_text)
        assert tokens.shape == (len(CLASSNAMES), 4, tiny_backbone.text_width)
        for c in range(len(CLASSNAMES)):
            # The plain sequence: SOS, the context, the template; tokens 1..4 replaced before block 2.
            layers = [method.ctx, None, tokens[c]]
            alone = tiny_backbone.encode_text(method.tokenized_prompts[c : c + 1], TextPrompts(layers=layers))
            torch.testing.assert_close(features[c], F.normalize(alone[0], dim=-1), atol=1e-5, rtol=0)


def test_a_class_does_not_depend_on_the_others_and_novel_classes_get_their_own_tokens(tiny_backbone):
    method = build(tiny_backbone)
    with torch.no_grad():
        all_classes = method.class_features()
        method.set_classes(ClassSet(CLASSNAMES[1:2], dataset="EuroSAT"))
        one = method.class_features()
        method.set_classes(ClassSet(("zebra", "violin"), dataset="EuroSAT"))
        novel = method.class_features()
    torch.testing.assert_close(one[0], all_classes[1], atol=1e-5, rtol=0)
    assert novel.shape[0] == 2 and not torch.allclose(novel[0], novel[1], atol=1e-3)


def test_the_class_aware_tokens_enter_at_the_configured_layer(tiny_backbone):
    a, b = build(tiny_backbone, inject_layer=1), build(tiny_backbone, inject_layer=3)
    b.load_state_dict(a.state_dict())
    prompts = b.text_prompts().layers
    assert [layer is None for layer in prompts] == [False, True, True, False]
    with torch.no_grad():
        assert not torch.allclose(a.class_features(), b.class_features(), atol=1e-4)


def test_loss_is_cross_entropy_plus_eight_times_one_minus_mean_cosine(tiny_backbone):
    method = build(tiny_backbone)
    images = torch.randn(3, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    labels = torch.tensor([0, 2, 1])
    out = method(images, labels)
    image = F.normalize(tiny_backbone.encode_image(images), dim=-1)
    text = method.class_features()
    logits = tiny_backbone.logit_scale * image @ text.t()
    ce = F.cross_entropy(logits, labels)
    kg = 1 - (text * method.clip_text).sum(-1).mean()
    torch.testing.assert_close(out.logits, logits, atol=1e-5, rtol=0)
    torch.testing.assert_close(out.loss, ce + 8.0 * kg, atol=1e-5, rtol=1e-6)
    assert out.terms["ce"] == pytest.approx(ce.item(), abs=1e-5)
    assert out.terms["kg"] == pytest.approx(kg.item(), abs=1e-6)


@pytest.mark.parametrize(
    ("dataset", "prompt", "frozen"),
    [
        ("EuroSAT", "X X X X {}.", "a centered satellite photo of {}."),
        ("FGVCAircraft", "X X X X {}, a type of aircraft.", "a photo of an aircraft {}."),
        ("StanfordCars", "X X X X {}, a type of car", "a photo of a {}."),
        ("ImageNet", "a photo of a {}.", "a photo of a {}."),
        ("UCF101", "a photo of a person doing {}.", "a photo of a person doing {}."),
        ("Toy", "X X X X {}.", "a photo of a {}."),  # not in the authors' tables
    ],
)
def test_prompts_and_frozen_features_follow_the_authors_tables(tiny_backbone, dataset, prompt, frozen):
    runtime = MethodRuntime()
    method = build(tiny_backbone, classes=ClassSet(CLASSNAMES, dataset=dataset), runtime=runtime)
    texts = [prompt.format(name.replace("_", " ")) for name in CLASSNAMES]
    assert torch.equal(method.tokenized_prompts, tiny_backbone.tokenize(texts))
    torch.testing.assert_close(method.clip_text, template_features(tiny_backbone, CLASSNAMES, (frozen,)))
    assert runtime.records["class_prompt"] == prompt and runtime.records["kg_template"] == frozen


def test_configured_templates_replace_the_tables(tiny_backbone):
    method = build(tiny_backbone, class_prompt="X X X X X {} here.", kg_template="art of {}.")
    assert torch.equal(method.tokenized_prompts[0], tiny_backbone.tokenize([f"X X X X X {CLASSNAMES[0]} here."])[0])
    torch.testing.assert_close(method.clip_text, template_features(tiny_backbone, CLASSNAMES, ("art of {}.",)))


def test_word_init_is_the_authors_words(tiny_backbone):
    method = build(tiny_backbone, ctx_init="a photo of a")
    words = tiny_backbone.text_encoder.token_embeddings(tiny_backbone.tokenize(["a photo of a"]))[0, 1:5]
    torch.testing.assert_close(method.ctx.detach(), words)


def test_text_encoding_shares_the_prefix_before_the_injection(tiny_backbone, monkeypatch):
    calls = []
    original = tiny_backbone.text_encoder._shared_prefix_forward

    def spy(*args, **kwargs):
        calls.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(tiny_backbone.text_encoder, "_shared_prefix_forward", spy)
    method = build(tiny_backbone)
    fast = method.class_features()
    with tiny_backbone.using_reference_order():
        exact = method.class_features()
    assert calls == [1]
    torch.testing.assert_close(fast, exact, atol=1e-5, rtol=0)


@pytest.mark.parametrize(
    ("config", "field"),
    [
        ({"ctx_init": "a photo of"}, "ctx_init"),
        ({"ctx_init": "a photo of a", "n_ctx": 2}, "n_ctx"),
        ({"inject_layer": 0}, "inject_layer"),
        ({"inject_layer": 4}, "inject_layer"),  # the tiny text encoder has 4 blocks
        ({"class_prompt": "{}."}, "class_prompt"),  # no room for the context before the class name
        ({"n_ctx": 5}, "class_prompt"),  # "X X X X {}." has 4 tokens before the name
        ({"kg_template": "a photo."}, "kg_template"),
        ({"kg_weight": -1.0}, "kg_weight"),
        ({"n_ctx": 0}, "n_ctx"),
    ],
)
def test_refuses_what_the_authors_code_would_silently_get_wrong(tiny_backbone, config, field):
    with pytest.raises(ConfigError, match=field):
        build(tiny_backbone, **config)


def test_the_authors_settings_translate():
    base = {"TRAINER.COOP.N_CTX": 4, "TRAINER.COOP.CTX_INIT": False, "TRAINER.COOP.W": 1.0}
    assert config_from_authors("tcp", base) == {"n_ctx": 4, "ctx_init": "", "inject_layer": 8}
    words = {**base, "TRAINER.COOP.CTX_INIT": True, "TRAINER.COOP.N_CTX": 16, "TRAINER.COOP.INJECT_LAYER": 3}
    assert config_from_authors("tcp", words) == {"n_ctx": 4, "ctx_init": "a photo of a", "inject_layer": 3}
    with pytest.raises(ConfigError, match="CSC"):
        config_from_authors("tcp", {**base, "TRAINER.COOP.CSC": True})


def test_dataset_aliases_find_the_authors_rows():
    from hicropl.methods.tcp import (
        TCP_CLASS_PROMPT_TEMPLATES,
        TCP_FROZEN_TEMPLATES,
        class_prompt_template,
        frozen_template,
    )

    assert class_prompt_template("dtd") == TCP_CLASS_PROMPT_TEMPLATES["DescribableTextures"]
    assert frozen_template("pets") == TCP_FROZEN_TEMPLATES["OxfordPets"]
