"""Each baseline's defining property against the plain computation, on the tiny CLIP.

The shared matrix (test_matrix.py, rows in cases.py) covers shapes, which parameters learn, the
untouched backbone, seeding, state round trips and the loss falling. Here: CoOp word init == zero-shot,
CoOp's token layouts, CoCoOp with a zero meta-net == CoOp, KgCoOp's regulariser vanishing at the
hand-crafted prompt, MaPLe's coupling, IVLP's depths and lengths, the linear probe's solver and search,
and config validation.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from hicropl.clip.encoders import ImagePrompts, TextPrompts
from hicropl.clip.features import template_features
from hicropl.data.loader import ImageDataset
from hicropl.data.transforms import build_transform
from hicropl.data.types import Datum
from hicropl.errors import ConfigError
from hicropl.methods import ClassSet, MethodRuntime, build_method, list_methods
from hicropl.methods.base import build_config
from hicropl.methods.kgcoop import KgCoOpConfig
from tests.methods.cases import CLASSNAMES

CLASSES = ClassSet(CLASSNAMES, dataset="Toy")


def build(name: str, backbone, seed: int = 0, classes: ClassSet = CLASSES, runtime=None, **config):
    torch.manual_seed(seed)
    return build_method(name, backbone, classes, config, runtime)


def images(seed: int = 0, n: int = 3) -> torch.Tensor:
    return torch.randn(n, 3, 32, 32, generator=torch.Generator().manual_seed(seed))


def eval_logits(method, x: torch.Tensor) -> torch.Tensor:
    with method.evaluating():
        return method(x).logits


def perturb_(*params: torch.Tensor, seed: int = 1, scale: float = 0.05) -> None:
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for param in params:
            param.add_(scale * torch.randn(param.shape, generator=gen))


class Spy:
    """Records the prompts handed to the backbone's encoders (the injection points)."""

    def __init__(self, backbone, monkeypatch) -> None:
        self.image: list[ImagePrompts | None] = []
        self.text: list[TextPrompts | None] = []
        encode_image, encode_text = backbone.encode_image, backbone.encode_text

        def image(images, prompts=None, normalize=False):
            self.image.append(prompts)
            return encode_image(images, prompts, normalize)

        def text(texts, prompts=None, normalize=False):
            self.text.append(prompts)
            return encode_text(texts, prompts, normalize)

        monkeypatch.setattr(backbone, "encode_image", image)
        monkeypatch.setattr(backbone, "encode_text", text)


def test_every_baseline_is_registered():
    assert {"zeroshot", "coop", "cocoop", "kgcoop", "ivlp", "maple", "linear_probe"} <= set(list_methods())


# --- CoOp ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("ctx_init", "n_ctx", "words"),
    [("a photo of a", 4, 4), ("a photo of a", None, 4), ("itap of a", None, 3)],
    ids=["n_ctx-given", "n_ctx-unset", "fixed-token"],
)
def test_coop_word_init_equals_zeroshot_with_that_template(tiny_backbone, ctx_init, n_ctx, words):
    # The context length is the number of words (the authors' coop.py:75). "itap of a" is 3 words but
    # 4 BPE tokens ("it" "ap"): the context covers the first 3 tokens and "a" stays as fixed text.
    coop = build("coop", tiny_backbone, n_ctx=n_ctx, ctx_init=ctx_init)
    zeroshot = build("zeroshot", tiny_backbone, prompts="custom", templates=[ctx_init + " {}."])
    x = images()
    torch.testing.assert_close(eval_logits(coop, x), eval_logits(zeroshot, x), atol=1e-5, rtol=0)
    assert coop.num_trainable() == words * tiny_backbone.text_width
    assert coop.prompt_prefix == ctx_init


def test_coop_refuses_what_the_authors_code_silently_ignores(tiny_backbone):
    # CSC is read only for a random context (coop.py:84-89); N_CTX is overridden by the init words (coop.py:75).
    with pytest.raises(ConfigError, match=r"csc: .*ignores CSC when CTX_INIT is set.*one context shared"):
        build("coop", tiny_backbone, ctx_init="a photo of a", csc=True)
    with pytest.raises(ConfigError, match=r"n_ctx: 16 .*number of words of ctx_init \(4\)"):
        build("coop", tiny_backbone, n_ctx=16, ctx_init="a photo of a")
    # The default context is the authors' N_CTX default: 16 random vectors.
    assert build("coop", tiny_backbone).ctx.shape == (16, tiny_backbone.text_width)


@pytest.mark.parametrize("position", ["middle", "front"])
def test_coop_word_init_with_the_class_inside_the_context_is_the_authors_layout(tiny_backbone, position):
    # coop.py:136-177: "a photo [name] of a ." (middle) and "[name] a photo of a ." (front).
    method = build("coop", tiny_backbone, ctx_init="a photo of a", class_token_position=position)
    words = tiny_backbone.text_encoder.token_embeddings(tiny_backbone.tokenize(["a photo of a"]))[0, 1:5]
    torch.testing.assert_close(method.ctx.detach(), words, atol=0, rtol=0)
    with torch.no_grad():
        first = method.first_layer_input()
    for i, name in enumerate(CLASSNAMES):
        torch.testing.assert_close(first[i], _hand_built(tiny_backbone, name, words, position), atol=0, rtol=0)


def _hand_built(backbone, name: str, ctx: torch.Tensor, position: str) -> torch.Tensor:
    """``[L, d]``: SOS, context and class name in the given order, then ".", EOT and padding."""
    tok = backbone.tokenizer
    embed = backbone.text_encoder.token_embeddings

    def words(ids: list[int]) -> torch.Tensor:
        return embed(torch.tensor([ids]))[0]

    name_ids = tok.encode(name.replace("_", " "))
    half = ctx.shape[0] // 2
    parts = {
        "end": [words([tok.sot_token_id]), ctx, words(name_ids)],
        "front": [words([tok.sot_token_id]), words(name_ids), ctx],
        "middle": [words([tok.sot_token_id]), ctx[:half], words(name_ids), ctx[half:]],
    }[position]
    used = 1 + ctx.shape[0] + len(name_ids) + 2
    tail = words([*tok.encode("."), tok.eot_token_id] + [0] * (tok.context_length - used))
    return torch.cat([*parts, tail])


@pytest.mark.parametrize("position", ["end", "middle", "front"])
@pytest.mark.parametrize("csc", [False, True], ids=["unified", "csc"])
def test_coop_first_layer_input_is_the_hand_built_sequence(tiny_backbone, position, csc):
    method = build("coop", tiny_backbone, n_ctx=5, csc=csc, class_token_position=position)
    assert method.ctx.shape == ((len(CLASSNAMES), 5, 64) if csc else (5, 64))
    with torch.no_grad():
        first = method.first_layer_input()
        for i, name in enumerate(CLASSNAMES):
            ctx = method.ctx[i] if csc else method.ctx
            torch.testing.assert_close(first[i], _hand_built(tiny_backbone, name, ctx, position), atol=0, rtol=0)
        # What the method encodes is that sequence.
        plain = tiny_backbone.encode_text(method.tokenized_prompts, TextPrompts(embeddings=first), normalize=True)
        torch.testing.assert_close(method.class_features(), plain, atol=1e-5, rtol=0)


def test_coop_positions_change_the_features(tiny_backbone):
    end, front = (build("coop", tiny_backbone, n_ctx=4, class_token_position=p) for p in ("end", "front"))
    features = [end.class_features(), front.class_features()]
    assert not torch.allclose(features[0], features[1], atol=1e-3)


def test_coop_config_errors_name_the_field(tiny_backbone):
    with pytest.raises(ConfigError, match="ctx_init"):
        build("coop", tiny_backbone, n_ctx=2, ctx_init="a photo of a", class_token_position="front")
    method = build("coop", tiny_backbone, n_ctx=2, csc=True)
    with pytest.raises(ConfigError, match="csc"):
        method.set_classes(ClassSet(("dog", "cat")))


# --- CoCoOp -------------------------------------------------------------------------------------
def test_cocoop_with_a_zero_meta_net_equals_coop_with_the_same_context(tiny_backbone):
    cocoop = build("cocoop", tiny_backbone, chunk=2)
    coop = build("coop", tiny_backbone, seed=5, n_ctx=4, ctx_init="a photo of a")
    perturb_(cocoop.ctx)
    with torch.no_grad():
        cocoop.meta_net.linear2.weight.zero_()
        cocoop.meta_net.linear2.bias.zero_()
        coop.ctx.copy_(cocoop.ctx)
    x = images(n=5)
    torch.testing.assert_close(eval_logits(cocoop, x), eval_logits(coop, x), atol=1e-5, rtol=0)


def test_cocoop_text_depends_on_the_image_and_chunking_is_exact(tiny_backbone):
    method = build("cocoop", tiny_backbone, chunk=1)
    perturb_(*method.meta_net.parameters(), scale=0.5)
    x = images(n=3)
    with method.evaluating():
        image = tiny_backbone.encode_image(x, normalize=True)
        text = method.text_features_for(image)
        one = method(x).logits
        method.config.chunk = 3
        three = method(x).logits
    assert text.shape == (3, len(CLASSNAMES), tiny_backbone.embed_dim)
    assert not torch.allclose(text[0], text[1], atol=1e-4)
    torch.testing.assert_close(one, three, atol=1e-5, rtol=0)
    expected = method.logit_scale() * torch.einsum("be,bce->bc", image, text)
    torch.testing.assert_close(one, expected, atol=1e-4, rtol=0)
    assert not method.caches_class_features
    assert method.meta_net.linear1.out_features == tiny_backbone.embed_dim // 16


# --- KgCoOp -------------------------------------------------------------------------------------
def test_kgcoop_defaults_are_the_authors(tiny_backbone):
    method = build("kgcoop", tiny_backbone)
    cfg = method.config
    assert (cfg.kg_distance, cfg.kg_weight, cfg.ctx_init, cfg.n_ctx) == ("cosine", 8.0, "a photo of a", None)
    assert method.ctx.shape == (4, tiny_backbone.text_width)


@pytest.mark.parametrize("distance", ["l2", "cosine"])
def test_kgcoop_regulariser_is_zero_at_the_hand_crafted_prompt(tiny_backbone, distance):
    # Dataset "Toy" has CoOp's default template "a photo of a {}.", the prompt KgCoOp starts from.
    method = build("kgcoop", tiny_backbone, kg_distance=distance)
    x, labels = images(n=4), torch.tensor([0, 1, 2, 3])
    out = method(x, labels)
    assert out.terms["kg"] < 1e-9
    perturb_(method.ctx, scale=0.5)
    out = method(x, labels)
    text = method.class_features()
    clip = template_features(tiny_backbone, CLASSNAMES, ["a photo of a {}."])
    expected = (text - clip).pow(2).sum(-1).mean() if distance == "l2" else 1 - (text * clip).sum(-1).mean()
    assert out.terms["kg"] > 1e-4
    assert out.terms["kg"] == pytest.approx(expected.item(), rel=1e-4)
    assert out.loss.item() == pytest.approx(out.terms["ce"] + 8.0 * out.terms["kg"], rel=1e-5)


def test_kgcoop_targets_the_dataset_template(tiny_backbone):
    method = build("kgcoop", tiny_backbone, classes=ClassSet(CLASSNAMES, dataset="OxfordPets"))
    expected = template_features(tiny_backbone, CLASSNAMES, ["a photo of a {}, a type of pet."])
    torch.testing.assert_close(method.clip_text, expected)
    assert method(images(n=2), torch.tensor([0, 1])).terms["kg"] > 1e-6


@pytest.mark.parametrize(
    ("dataset", "kg_template", "expected"),
    [
        # KgCoOp's own table (kgcoop.py:41), not CoOp's "{} texture.".
        ("DescribableTextures", "", "a photo of a {}, a type of texture."),
        ("DescribableTextures", "{} texture.", "{} texture."),
        ("dtd", "", "a photo of a {}, a type of texture."),  # a registry alias finds the same row
        ("Toy", "", "a photo of a {}."),
    ],
)
def test_kgcoop_template_is_kgcoops_table_or_the_configured_one(tiny_backbone, dataset, kg_template, expected):
    runtime = MethodRuntime()
    method = build(
        "kgcoop", tiny_backbone, classes=ClassSet(CLASSNAMES, dataset=dataset), runtime=runtime, kg_template=kg_template
    )
    torch.testing.assert_close(method.clip_text, template_features(tiny_backbone, CLASSNAMES, [expected]))
    assert runtime.records["kg_template"] == expected


def test_kgcoop_refuses_what_the_authors_code_silently_ignores(tiny_backbone):
    with pytest.raises(ConfigError, match=r"class_token_position: 'middle'.*always puts the class token at the end"):
        build("kgcoop", tiny_backbone, class_token_position="middle")
    with pytest.raises(ConfigError, match=r"ctx_init: 'a photo of'.*whatever its value"):
        build("kgcoop", tiny_backbone, ctx_init="a photo of")
    with pytest.raises(ConfigError, match="kg_template"):
        build("kgcoop", tiny_backbone, kg_template="a photo.")


# --- MaPLe --------------------------------------------------------------------------------------
def test_maple_vision_prompts_are_the_coupling_of_the_language_prompts(tiny_backbone, monkeypatch):
    method = build("maple", tiny_backbone, n_ctx=2, depth=3)
    perturb_(*method.parameters())
    spy = Spy(tiny_backbone, monkeypatch)
    method(images(n=2), torch.tensor([0, 1]))
    (image_prompts,), (text_prompts,) = spy.image, spy.text
    assert len(text_prompts.layers) == len(image_prompts.layers) == 3
    for i, (text, vision) in enumerate(zip(text_prompts.layers, image_prompts.layers, strict=True)):
        assert text is method.text_prompts[i]
        assert text.shape == (2, tiny_backbone.text_width) and vision.shape == (2, tiny_backbone.vision_width)
        torch.testing.assert_close(vision, F.linear(text, method.couplings[i].weight, method.couplings[i].bias))


def test_maple_shapes_and_clone_init(tiny_backbone):
    method = build("maple", tiny_backbone, n_ctx=2, depth=4)
    assert len(method.text_prompts) == len(method.couplings) == 4
    # The authors' code clones one deep coupling; the first-layer one is initialised on its own.
    for coupling in method.couplings[2:]:
        assert torch.equal(coupling.weight, method.couplings[1].weight)
    assert not torch.equal(method.couplings[0].weight, method.couplings[1].weight)
    width_t, width_v = tiny_backbone.text_width, tiny_backbone.vision_width
    assert method.num_trainable() == 4 * (2 * width_t + width_t * width_v + width_v)
    with pytest.raises(ConfigError, match="depth"):
        build("maple", tiny_backbone, depth=5)


def test_maple_word_init_is_the_first_tokens_of_the_init_words(tiny_backbone):
    # maple.py:84-92: tokens 1..m of "a photo of a", the whole init text in the prompt.
    method = build("maple", tiny_backbone, n_ctx=3, depth=1)
    embed = tiny_backbone.text_encoder.token_embeddings(tiny_backbone.tokenize(["a photo of a"]))[0]
    torch.testing.assert_close(method.text_prompts[0].detach(), embed[1:4], atol=0, rtol=0)
    assert method.prompt_prefix == "a photo of a"
    # More than 4 vectors: the authors ignore ctx_init; refused rather than ignored.
    with pytest.raises(ConfigError, match=r"n_ctx: 5 with ctx_init.*at most 4 context vectors.*ignores ctx_init"):
        build("maple", tiny_backbone, n_ctx=5, depth=1)
    assert build("maple", tiny_backbone, n_ctx=5, depth=1, ctx_init="").prompt_prefix == "X X X X X"
    # Fewer init tokens than vectors would overwrite the class names with end-of-text embeddings.
    with pytest.raises(ConfigError, match=r"ctx_init: 'a photo' has 2 tokens but the context has 3 vectors"):
        build("maple", tiny_backbone, n_ctx=3, depth=1, ctx_init="a photo")


# --- IVLP ---------------------------------------------------------------------------------------
def test_ivlp_depths_and_lengths_are_respected(tiny_backbone, monkeypatch):
    method = build("ivlp", tiny_backbone, n_ctx_text=6, n_ctx_vision=1, depth_text=4, depth_vision=2, ctx_init="")
    spy = Spy(tiny_backbone, monkeypatch)
    method(images(n=2), torch.tensor([0, 1]))
    (image_prompts,), (text_prompts,) = spy.image, spy.text
    assert [tuple(p.shape) for p in text_prompts.layers] == [(6, 64)] * 4
    assert [tuple(p.shape) for p in image_prompts.layers] == [(1, 64)] * 2
    assert all(a is b for a, b in zip(text_prompts.layers, method.text_prompts, strict=True))
    assert all(a is b for a, b in zip(image_prompts.layers, method.vision_prompts, strict=True))
    assert method.num_trainable() == 4 * 6 * 64 + 2 * 1 * 64
    assert method.prompt_prefix == "X X X X X X"
    # Word init (independentVL.py:82-90): at most 4 tokens, the first m tokens of the init words.
    with pytest.raises(ConfigError, match=r"n_ctx_text: 6 with ctx_init"):
        build("ivlp", tiny_backbone, n_ctx_text=6, depth_text=1, depth_vision=0)
    method = build("ivlp", tiny_backbone, n_ctx_text=3, depth_text=1, depth_vision=0)
    embed = tiny_backbone.text_encoder.token_embeddings(tiny_backbone.tokenize(["a photo of a"]))[0]
    torch.testing.assert_close(method.text_prompts[0].detach(), embed[1:4], atol=0, rtol=0)
    assert method.prompt_prefix == "a photo of a"


def test_ivlp_fixed_words_and_a_switched_off_branch(tiny_backbone):
    method = build("ivlp", tiny_backbone, n_ctx_text=2, depth_text=2, depth_vision=0)
    assert method.prompt_prefix == "a photo of a"  # "a photo" learnable, "of a" fixed
    x = images(n=2)
    with method.evaluating():
        image = tiny_backbone.encode_image(x, normalize=True)
        expected = method.logit_scale() * image @ method.class_features().t()
        torch.testing.assert_close(method(x).logits, expected)
    with pytest.raises(ConfigError, match="depth_text"):
        build("ivlp", tiny_backbone, depth_text=5)
    with pytest.raises(ConfigError, match="depth_vision"):
        build("ivlp", tiny_backbone, depth_text=2, depth_vision=5)
    # Vision-only prompting is refused as by the authors (independentVL.py:70: use their VPT trainer).
    with pytest.raises(ConfigError, match=r"depth_text: must be >= 1.*VPT"):
        build("ivlp", tiny_backbone, depth_text=0, depth_vision=2)


def test_ivlp_defaults_are_the_maple_repository_config():
    # configs/trainers/IVLP/vit_b16_c2_ep5_batch4_2+2ctx.yaml of muzairkhattak/multimodal-prompt-learning.
    cfg = build_config("ivlp", {})
    assert (cfg.n_ctx_text, cfg.n_ctx_vision, cfg.depth_text, cfg.depth_vision, cfg.ctx_init) == (
        2,
        2,
        12,
        12,
        "a photo of a",
    )


def test_ivlp_language_only_has_no_vision_prompts(tiny_backbone, monkeypatch):
    # The MaPLe repository's vit_b16_c2_ep5_batch4_4ctx_language_only.yaml: N_CTX_VISION 0, depth 0.
    x = images(n=2)
    plain = tiny_backbone.encode_image(x, normalize=True)
    spy = Spy(tiny_backbone, monkeypatch)
    for vision in ({"n_ctx_vision": 0, "depth_vision": 0}, {"n_ctx_vision": 0, "depth_vision": 3}):
        method = build("ivlp", tiny_backbone, n_ctx_text=4, depth_text=4, **vision)
        assert len(method.vision_prompts) == 0
        with method.evaluating():
            logits = method(x).logits
            assert list(spy.image[-1].layers) == []
            expected = method.logit_scale() * plain @ method.class_features().t()
        torch.testing.assert_close(logits, expected)


# --- linear probe -------------------------------------------------------------------------------
def _blobs(n_per_class: int, seed: int, dim: int = 32, classes: int = 3, noise: float = 0.3):
    gen = torch.Generator().manual_seed(seed)
    centres = torch.eye(dim)[:classes] * 2.0
    labels = torch.arange(classes).repeat_interleave(n_per_class)
    features = centres[labels] + noise * torch.randn(len(labels), dim, generator=gen)
    return features, labels


PROBE_CLASSES = ClassSet(("a", "b", "c"))


def test_linear_probe_recovers_a_separable_problem(tiny_backbone):
    method = build("linear_probe", tiny_backbone, classes=PROBE_CLASSES, search_steps=2)
    fit = method.fit(*_blobs(8, 0), *_blobs(4, 1))
    assert fit.val_accuracy == 100.0 and bool(method.fitted)
    test_x, test_y = _blobs(20, 2)
    with method.evaluating():
        logits = method(torch.empty(0), frozen_image=test_x).logits
    assert (logits.argmax(-1) == test_y).all()
    assert method.trainable_parameters() == []  # fitted, never trained by the optimiser
    assert method.runtime.records["linear_probe"]["C"] == fit.c


def test_linear_probe_picks_c_by_validation_accuracy(tiny_backbone):
    # Train: class 0 is the majority. Val points sit on class 1's centre: labelled 1, the weakly
    # regularised fit is right; labelled 0, only the near-zero weights of a tiny C (majority bias) are.
    train_x, train_y = _blobs(6, 0, classes=2)
    train_x, train_y = torch.cat([train_x, train_x[:4]]), torch.cat([train_y, train_y[:4]])
    val_x = _blobs(5, 3, classes=2)[0][5:]
    for val_label, expected in ((1, 1e4), (0, 1e-4)):
        method = build("linear_probe", tiny_backbone, classes=ClassSet(("a", "b")), c_grid=[1e4, 1e-4], search_steps=0)
        fit = method.fit(train_x, train_y, val_x, torch.full((5,), val_label))
        assert fit.c == expected
        assert fit.val_accuracy == max(acc for _, acc in fit.history) == 100.0
        assert [c for c, _ in fit.history] == [1e4, 1e-4]


def test_linear_probe_search_and_determinism(tiny_backbone):
    data = (*_blobs(4, 0, noise=1.5), *_blobs(4, 1, noise=1.5))
    fits, weights = [], []
    for _ in range(2):
        method = build("linear_probe", tiny_backbone, classes=PROBE_CLASSES, c_grid=[1e2, 1.0, 1e-2], search_steps=2)
        fits.append(method.fit(*data))
        weights.append(method.head.weight.detach().clone())
    assert torch.equal(weights[0], weights[1]) and fits[0] == fits[1]
    assert len(fits[0].history) >= 4  # the grid plus bisection points
    assert fits[0].val_accuracy == max(acc for _, acc in fits[0].history)


def test_linear_probe_state_round_trip_and_class_guard(tiny_backbone):
    source = build("linear_probe", tiny_backbone, classes=PROBE_CLASSES, c=1.0)
    source.fit(*_blobs(4, 0))
    target = build("linear_probe", tiny_backbone, classes=PROBE_CLASSES)
    target.load_state_dict(source.state_dict())
    x = _blobs(3, 5)[0]
    torch.testing.assert_close(target(None, frozen_image=x).logits, source(None, frozen_image=x).logits)
    assert bool(target.fitted)
    with pytest.raises(ConfigError, match="linear_probe"):
        target.set_classes(ClassSet(("x", "y")))
    with pytest.raises(ConfigError, match="c:"):
        build("linear_probe", tiny_backbone, classes=PROBE_CLASSES).fit(*_blobs(2, 0))


FAST = {"c_grid": [1.0, 1e-2], "search_steps": 0}


def _probe_loader(folder):
    """Six plain-colour images of the three PROBE_CLASSES under the test transform."""
    data = []
    for i in range(6):
        path = folder / f"img{i}.png"
        Image.new("RGB", (40, 40), color=(40 * i, 255 - 30 * i, 17 * i)).save(path)
        data.append(Datum(str(path), i % 3, "abc"[i % 3]))
    dataset = ImageDataset(data, build_transform(False, 32))
    return torch.utils.data.DataLoader(dataset, batch_size=4)  # fixed order, as evaluation reads


def test_linear_probe_fit_from_loaders_caches_features(tiny_backbone, tmp_path):
    loader = _probe_loader(tmp_path)
    dataset = loader.dataset
    runtime = MethodRuntime(cache_dir=tmp_path / "cache")
    method = build("linear_probe", tiny_backbone, classes=PROBE_CLASSES, runtime=runtime, **FAST)
    first = method.fit_from_loaders(loader, loader)
    cached = list((tmp_path / "cache" / "image_features").glob("*.pt"))
    assert len(cached) == 2  # train and val
    features, labels = method.loader_features(loader, "train")
    assert labels.tolist() == [0, 1, 2, 0, 1, 2]
    expected = tiny_backbone.encode_image(torch.stack([dataset[i][0] for i in range(6)]), normalize=True)
    torch.testing.assert_close(features, expected, atol=1e-5, rtol=0)
    again = build("linear_probe", tiny_backbone, classes=PROBE_CLASSES, runtime=runtime, **FAST)
    assert again.fit_from_loaders(loader, loader) == first


# --- config validation --------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("method", "field", "value"),
    [
        ("coop", "n_ctx", 0),
        ("coop", "class_token_position", "left"),
        ("coop", "csc", "yes"),
        ("cocoop", "chunk", 0),
        ("cocoop", "n_ctx", -1),
        ("kgcoop", "kg_weight", -1.0),
        ("kgcoop", "kg_distance", "l1"),
        ("ivlp", "n_ctx_vision", -1),
        ("ivlp", "depth_text", -1),
        ("maple", "depth", 0),
        ("maple", "n_ctx", 0),
        ("linear_probe", "c_grid", []),
        ("linear_probe", "c_grid", [1.0, -1.0]),
        ("linear_probe", "c", 0.0),
        ("linear_probe", "search_steps", -1),
        ("linear_probe", "solver_dtype", "float16"),
    ],
)
def test_bad_config_values_name_the_field(method, field, value):
    with pytest.raises(ConfigError, match=field):
        build_config(method, {field: value})


def test_a_config_object_must_belong_to_the_method():
    assert build_config("kgcoop", KgCoOpConfig(kg_weight=1.0)).kg_weight == 1.0
    with pytest.raises(ConfigError, match="'maple' takes a MaPLeConfig, got a KgCoOpConfig"):
        build_config("maple", KgCoOpConfig())


def test_linear_probe_closed_form_hook(tiny_backbone, tmp_path):
    source = build("linear_probe", tiny_backbone, classes=PROBE_CLASSES, **FAST)
    loader = _probe_loader(tmp_path)
    assert source.fits_in_closed_form and not source.is_fitted
    summary = source.fit_closed_form(loader, loader)
    assert source.is_fitted and summary.startswith(f"C={source.runtime.records['linear_probe']['C']:g} (val accuracy")
    restored = build("linear_probe", tiny_backbone, classes=PROBE_CLASSES)
    restored.load_state_dict(source.state_dict())
    assert restored.is_fitted  # the engine does not refit a probe restored from its checkpoint


def test_linear_probe_summary_says_what_it_fits_and_how(tiny_backbone):
    method = build("linear_probe", tiny_backbone, classes=PROBE_CLASSES, search_steps=2, max_iter=50)
    fit = method.fit(*_blobs(8, 0), *_blobs(4, 1))
    summary = fit.summary()
    assert summary.startswith(f"C={fit.c:g} (val accuracy 100.00%, the best of {len(fit.history)} values of C tried")
    assert "a 3-class logistic regression on the L2-normalised frozen image features of 24 training images" in summary
    assert "(L-BFGS in float64, at most 50 iterations per C)" in summary
    assert "LinearProbeFit(" not in summary and "\n" not in summary
    fixed = build("linear_probe", tiny_backbone, classes=PROBE_CLASSES, c=1.0).fit(*_blobs(8, 0))
    assert fixed.summary().startswith("C=1 (no val split, fixed by method.c), a 3-class")
