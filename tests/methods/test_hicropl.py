"""HiCroPL-specific behaviour: each ablation switch's defining property, config validation, the
paper variant's purity, frozen text sources, and loading the authors' Dassl checkpoints."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from hicropl.clip.features import ensemble_features, imagenet_templates, template_features
from hicropl.errors import CheckpointError, ConfigError, DataError
from hicropl.methods import ClassSet, build_method
from hicropl.methods.dassl_checkpoint import load_dassl_checkpoint
from hicropl.methods.hicropl import HiCroPLConfig
from hicropl.typed_config import from_dict
from tests.methods.cases import CLASSNAMES, DESCRIPTIONS

CLASSES = ClassSet(CLASSNAMES, dataset="Toy", descriptions=DESCRIPTIONS)
BASE = {"n_ctx": 2, "depth": 4, "boundary": 2}


def build(backbone, seed: int = 0, **overrides):
    torch.manual_seed(seed)
    return build_method("hicropl", backbone, CLASSES, {**BASE, **overrides})


def images(seed: int = 0, n: int = 3) -> torch.Tensor:
    return torch.randn(n, 3, 32, 32, generator=torch.Generator().manual_seed(seed))


def mapped(method):
    with torch.no_grad():
        return method.prompt_learner()


@pytest.mark.parametrize(
    ("flow", "text_mapped", "visual_mapped"),
    [
        ("t2i_i2t", {2, 3}, {0, 1}),
        ("i2t_t2i", {0, 1}, {2, 3}),
        ("t2i", set(), {0, 1, 2, 3}),
        ("i2t", {0, 1, 2, 3}, set()),
    ],
)
def test_flow_direction_decides_which_layers_are_mapped(tiny_backbone, flow, text_mapped, visual_mapped):
    method = build(tiny_backbone, flow=flow)
    text, visual = mapped(method)
    learner = method.prompt_learner
    for layer in range(4):
        assert torch.equal(text[layer], learner.text_prompts[layer]) == (layer not in text_mapped)
        assert torch.equal(visual[layer], learner.visual_prompts[layer]) == (layer not in visual_mapped)


def test_multi_scale_mapper_mixes_layers_and_single_scale_does_not(tiny_backbone):
    for scale, mixes in (("multi", True), ("single", False)):
        method = build(tiny_backbone, mapper_scale=scale)
        _, before = mapped(method)
        with torch.no_grad():
            method.prompt_learner.text_prompts[1].add_(1.0)  # changes only layer 1's text proxy
        _, after = mapped(method)
        assert not torch.equal(before[1], after[1])
        assert (not torch.equal(before[0], after[0])) == mixes, scale


@pytest.mark.parametrize(("compression", "has_weights"), [("lkp", True), ("mean", False), ("mlp", True)])
def test_compression_choices(tiny_backbone, compression, has_weights):
    method = build(tiny_backbone, compression=compression)
    compressor = method.prompt_learner.compressors["t2i_0"]
    assert any(True for _ in compressor.parameters()) == has_weights
    prompts = method.prompt_learner.text_prompts[0]
    proxy = method.prompt_learner.proxies["t2i_0"]
    pooled = compressor(proxy, prompts)
    assert pooled.shape == (1, tiny_backbone.text_width)
    if compression == "mean":
        torch.testing.assert_close(pooled, prompts.mean(0, keepdim=True))
        assert not proxy.requires_grad


def test_depth_and_length_set_prompt_shapes(tiny_backbone):
    method = build(tiny_backbone, n_ctx=3, depth=3, boundary=1)
    text, visual = mapped(method)
    assert len(text) == len(visual) == 3
    assert text[0].shape == (3, tiny_backbone.text_width) and visual[2].shape == (3, tiny_backbone.vision_width)
    assert method.tokenized_prompts.shape[0] == len(CLASSNAMES)


def test_paper_variant_has_no_side_effects_and_no_shared_storage(tiny_backbone):
    method = build(tiny_backbone)
    state = {k: v.clone() for k, v in method.state_dict().items()}
    with method.evaluating():
        first = method(images()).logits
        second = method(images()).logits
    assert torch.equal(first, second)
    for key, value in method.state_dict().items():
        assert torch.equal(value, state[key]), key
    pointers = [p.data_ptr() for p in method.parameters()]
    assert len(pointers) == len(set(pointers))


def test_official_variant_aliases_and_mutates(tiny_backbone):
    method = build(tiny_backbone, variant="official")
    learner = method.prompt_learner
    assert learner.ctx is learner.cross_prompts_text[0]
    assert len({p.data_ptr() for p in learner.cross_prompts_visual}) == 1
    before = learner.cross_prompts_visual[0].detach().clone()
    with method.evaluating():
        method(images())
    assert not torch.equal(before, learner.cross_prompts_visual[0])
    # Aliasing survives a state-dict round trip.
    other = build(tiny_backbone, seed=1, variant="official")
    other.load_state_dict(method.state_dict())
    assert len({p.data_ptr() for p in other.prompt_learner.cross_prompts_visual}) == 1


def test_consistency_off_leaves_cross_entropy_only(tiny_backbone):
    method = build(tiny_backbone, use_consistency=False)
    labels = torch.tensor([0, 1, 2])
    out = method(images(), labels)
    torch.testing.assert_close(out.loss, F.cross_entropy(out.logits, labels))
    assert "consistency" not in out.terms


@pytest.mark.parametrize("criterion", ["cosine", "l1", "mse"])
def test_consistency_criteria(tiny_backbone, criterion):
    method = build(tiny_backbone, consistency=criterion, lambda_consistency=2.0)
    labels = torch.tensor([0, 1, 2])
    out = method(images(), labels)
    consistency = (out.loss - F.cross_entropy(out.logits, labels)) / 2.0
    torch.testing.assert_close(consistency.detach(), torch.tensor(out.terms["consistency"]), atol=1e-5, rtol=1e-5)
    a, b = torch.tensor([[0.6, 0.8]]), torch.tensor([[1.0, 0.0]])
    expected = {"cosine": 1 - 0.6, "l1": (0.4 + 0.8) / 2, "mse": (0.16 + 0.64) / 2}[criterion]
    assert method._consistency(a, b).item() == pytest.approx(expected)


def test_frozen_text_sources(tiny_backbone):
    llm = build(tiny_backbone, frozen_text="llm_mean")
    groups = [DESCRIPTIONS[name.replace("_", " ")] for name in CLASSNAMES]
    torch.testing.assert_close(llm.frozen_text.mean, ensemble_features(tiny_backbone, groups))
    assert llm.runtime.records["frozen_text_source"].startswith("llm_descriptions")
    template = build(tiny_backbone, frozen_text="template")
    torch.testing.assert_close(
        template.frozen_text.mean, template_features(tiny_backbone, CLASSNAMES, ["a photo of a {}."])
    )
    ensemble = build(tiny_backbone, frozen_text="templates")
    torch.testing.assert_close(
        ensemble.frozen_text.mean, template_features(tiny_backbone, CLASSNAMES, imagenet_templates())
    )
    random = build(tiny_backbone, frozen_text="llm_random")
    draws = {tuple(random.frozen_text.sample(torch.Generator().manual_seed(s))[0].tolist()) for s in range(12)}
    assert len(draws) == 2  # class 0 has two descriptions; each draw is one of them
    for row in random.frozen_text.sample():
        assert torch.isclose(row.norm(), torch.tensor(1.0))


def test_missing_descriptions_are_named_unless_fallback(tiny_backbone):
    partial = {k: v for k, v in DESCRIPTIONS.items() if k != "pizza"}
    classes = ClassSet(CLASSNAMES, dataset="Toy", descriptions=partial)
    with pytest.raises(DataError, match="pizza"):
        build_method("hicropl", tiny_backbone, classes, BASE)
    method = build_method("hicropl", tiny_backbone, classes, {**BASE, "description_fallback": True})
    assert "template fallback for 1 classes" in method.runtime.records["frozen_text_source"]


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("flow", "t2t", "flow = 't2t' is not allowed; choose one of 't2i_i2t'"),
        ("compression", "max", "compression"),
        ("boundary", 13, "boundary"),
        ("n_ctx", 0, "n_ctx"),
        ("consistency", "kl", "consistency"),
        ("depht", 3, "Did you mean depth"),
    ],
)
def test_config_errors_name_the_field(field, value, message):
    with pytest.raises(ConfigError, match=message):
        from_dict(HiCroPLConfig, {field: value})


def test_official_variant_refuses_ablation_switches():
    with pytest.raises(ConfigError, match="compression"):
        HiCroPLConfig(variant="official", compression="mean")


def test_depth_beyond_backbone_is_refused(tiny_backbone):
    with pytest.raises(ConfigError, match="depth"):
        build(tiny_backbone, depth=9, boundary=2)


def test_word_initialisation(tiny_backbone):
    method = build(tiny_backbone, n_ctx=4, ctx_init="a photo of a")
    tokens = tiny_backbone.tokenize(["a photo of a"])
    words = tiny_backbone.text_encoder.token_embeddings(tokens)[0, 1:5]
    torch.testing.assert_close(method.prompt_learner.text_prompts[0].detach(), words)
    # Longer prompts keep the words in front and random vectors after them.
    longer = build(tiny_backbone, n_ctx=6, ctx_init="a photo of a", depth=4)
    torch.testing.assert_close(longer.prompt_learner.text_prompts[0].detach()[:4], words)
    assert method.prompt_prefix == "a photo of a" and longer.prompt_prefix == "X X X X X X"


def test_dassl_checkpoint_loads_into_official(tiny_backbone, tmp_path):
    source = build(tiny_backbone, seed=4, variant="official")
    state = {k.removeprefix("prompt_learner."): v.half() for k, v in source.state_dict().items()}
    state["token_prefix"] = torch.zeros(4, 1, tiny_backbone.text_width)
    folder = tmp_path / "run" / "prompt_learner"
    folder.mkdir(parents=True)
    torch.save({"state_dict": state, "epoch": 50, "val_result": 91.5}, folder / "model-best.pth.tar")
    target = build(tiny_backbone, seed=5, variant="official")
    meta = load_dassl_checkpoint(target, tmp_path / "run")
    assert meta["epoch"] == 50
    for key, value in source.state_dict().items():
        torch.testing.assert_close(target.state_dict()[key], value.half().float())
    with pytest.raises(CheckpointError, match="variant=official"):
        load_dassl_checkpoint(build(tiny_backbone), tmp_path / "run")
    wrong = build(tiny_backbone, variant="official", n_ctx=3)
    with pytest.raises(CheckpointError, match="shape"):
        load_dassl_checkpoint(wrong, folder / "model-best.pth.tar")
