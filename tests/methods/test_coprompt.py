"""CoPrompt's defining properties beyond the shared matrix and the replay of its authors' traces."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from hicropl.clip.encoders import ImagePrompts
from hicropl.methods import ClassSet, build_method
from hicropl.methods.authors_config import config_from_authors
from hicropl.methods.coprompt import DESCRIPTION_DRAW, mix
from tests.methods.cases import CLASSNAMES, DESCRIPTIONS
from tests.methods.reference_replay import REFERENCE_TRACES, TraceConfig
from tests.methods.test_reference_traces import replay_config

CLASSES = ClassSet(CLASSNAMES, dataset="Toy", descriptions=DESCRIPTIONS)
SMALL = {"n_ctx": 2, "depth": 2, "distill_weight": 8.0}


def _batch(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    images = torch.randn(4, 3, 32, 32, generator=gen)
    return images, torch.randint(len(CLASSNAMES), (4,), generator=gen), images.flip(-1)


def _build(backbone, **config):
    torch.manual_seed(0)
    return build_method("coprompt", backbone, CLASSES, {**SMALL, **config})


def test_one_description_index_is_the_text_target_of_every_class(tiny_backbone):
    method = _build(tiny_backbone)
    descriptions = method.description_embeddings()
    assert descriptions.shape == (2, len(CLASSNAMES), tiny_backbone.embed_dim)
    images, labels, second = _batch()
    method.train()
    for index in (0, 1):
        method.random_draws.replay(DESCRIPTION_DRAW, index)
        out = method(images, labels, second_view=second)
        expected = 1.0 - F.cosine_similarity(method.class_features(), descriptions[index], dim=1).mean()
        assert out.terms["distill_text"] == pytest.approx(expected.item(), abs=1e-6)
    other = 1.0 - F.cosine_similarity(method.class_features(), descriptions[0], dim=1).mean()
    assert out.terms["distill_text"] != pytest.approx(other.item(), abs=1e-6)  # the index matters


def test_the_image_target_is_the_frozen_clip_feature_of_the_second_view(tiny_backbone):
    method = _build(tiny_backbone, distill="mse")
    images, labels, second = _batch(1)
    method.train()
    out = method(images, labels, second_view=second)
    target = F.normalize(tiny_backbone.encode_image(second).float(), dim=-1)
    _, vision = method.prompts()
    image = mix(method.adapter_image, tiny_backbone.encode_image(images, ImagePrompts(layers=vision)).float(), 0.1)
    assert out.terms["distill_image"] == pytest.approx(F.mse_loss(image, target).item(), rel=1e-5)
    changed = method(images, labels, second_view=images).terms["distill_image"]
    assert changed != pytest.approx(out.terms["distill_image"], rel=1e-5)


def test_description_draws_are_seeded_and_evaluation_draws_none(tiny_backbone):
    images, labels, second = _batch(2)
    draws = []
    for _ in range(2):
        method = _build(tiny_backbone)
        with method.evaluating():
            method(images)
        assert method.random_draws.last == {}
        method.train()
        picked = []
        for _ in range(6):
            method(images, labels, second_view=second)
            picked.append(method.random_draws.last[DESCRIPTION_DRAW])
        draws.append(picked)
    assert draws[0] == draws[1] and set(draws[0]) <= {0, 1}


def test_training_needs_the_second_view(tiny_backbone):
    method = _build(tiny_backbone)
    images, labels, _ = _batch()
    method.train()
    with pytest.raises(ValueError, match="second_view"):
        method(images, labels)


def test_unequal_description_counts_are_refused(tiny_backbone):
    uneven = {**DESCRIPTIONS, "pizza": DESCRIPTIONS["pizza"][:1]}
    torch.manual_seed(0)
    method = build_method("coprompt", tiny_backbone, ClassSet(CLASSNAMES, "Toy", descriptions=uneven), SMALL)
    with pytest.raises(Exception, match="same number"):
        method.description_embeddings()


def test_authors_settings_translate():
    ours = config_from_authors("coprompt", {"TRAINER.CoPrompt.N_CTX": 4, "TRAINER.W": 0.5, "TRAINER.DISTILL": "l2"})
    assert ours == {
        "n_ctx": 4,
        "depth": 9,
        "ctx_init": "a photo of a",
        "distill_weight": 0.5,
        "distill": "mse",  # anything but "cosine" takes the authors' MSE branch
    }
    assert config_from_authors("coprompt", {})["distill_weight"] == 8.0  # train.py's TRAINER.W


@pytest.mark.parametrize(
    "key",
    ["train1.terms.distill_image", "train1.terms.distill_text", "train1.random.description_index", "train_images2.1"],
)
def test_a_changed_coprompt_trace_value_is_reported(tmp_path: Path, key: str) -> None:
    target = tmp_path / "coprompt"
    shutil.copytree(REFERENCE_TRACES / "coprompt", target)
    copy = TraceConfig("coprompt", target, "n2_d3_w8_word")
    file = target / "n2_d3_w8_word" / "trace.pt"
    trace = torch.load(file, weights_only=True)
    if key.endswith("description_index"):
        trace[key] = (trace[key] + 1) % 3  # another description
    elif key.startswith("train_images2"):
        trace[key] = trace["train_images.1"].clone()  # the first view as the frozen target
    else:
        flat = trace[key].reshape(-1)
        index = flat.abs().argmax()
        flat[index] = flat[index] * (1 + 1e-3) + 1e-3
    torch.save(trace, file)
    with pytest.raises(AssertionError, match=r"train1\."):
        replay_config(copy)
