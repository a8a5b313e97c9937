"""PromptSRC's defining properties (its numbers against the authors' code: test_reference_traces.py)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from hicropl.clip.features import imagenet_templates, readable
from hicropl.errors import ConfigError
from hicropl.methods import ClassSet, build_method
from hicropl.methods.authors_config import config_from_authors
from hicropl.methods.base import build_config
from hicropl.methods.promptsrc import PromptSRCConfig, gaussian_epoch_weights, promptsrc_templates
from tests.methods.cases import CLASSNAMES, SMALL_DEEP

CLASSES = ClassSet(CLASSNAMES)


def _build(backbone, **config):
    torch.manual_seed(0)
    return build_method("promptsrc", backbone, CLASSES, {**SMALL_DEEP, **config})


def _batch(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(4, 3, 32, 32, generator=gen), torch.randint(len(CLASSNAMES), (4,), generator=gen)


def test_templates_are_clips_first_sixty_led_by_a_photo_of_a() -> None:
    templates = promptsrc_templates()
    assert len(templates) == len(set(templates)) == 60
    assert templates[0] == "a photo of a {}."
    assert set(templates) == set(imagenet_templates()[:60])


def test_frozen_text_is_the_normalised_mean_of_the_raw_template_features(tiny_backbone) -> None:
    method = _build(tiny_backbone)
    with torch.no_grad():
        raw = torch.stack(
            [
                tiny_backbone.encode_text(
                    tiny_backbone.tokenize([t.format(readable(name)) for t in promptsrc_templates()])
                )
                for name in CLASSNAMES
            ]
        ).float()
    torch.testing.assert_close(method.frozen_text(), F.normalize(raw.mean(dim=1), dim=-1))
    # CLIP's ensemble (normalise each, then average) is a different target.
    assert not torch.allclose(method.frozen_text(), F.normalize(F.normalize(raw, dim=-1).mean(dim=1), dim=-1))


def test_training_loss_is_ce_plus_the_three_self_regulating_terms(tiny_backbone) -> None:
    method = _build(tiny_backbone, text_loss_weight=3.0, image_loss_weight=2.0)
    images, labels = _batch()
    method.train()
    out = method(images, labels)
    with torch.no_grad():
        text = method.class_features()
        image = method.image_features(images)
        frozen = F.normalize(tiny_backbone.encode_image(images).float(), dim=-1)
        scale = method.logit_scale()
        logits = scale * image @ text.t()
        zs = scale * frozen @ method.frozen_text().t()
        p_zs = zs.softmax(dim=1)
        kl = (p_zs * (zs.log_softmax(dim=1) - logits.log_softmax(dim=1))).sum() / logits.numel()
        expected = {
            "ce": F.cross_entropy(logits, labels).item(),
            "scl_text": 3.0 * (text - method.frozen_text()).abs().mean().item(),
            "scl_image": 2.0 * (image - frozen).abs().mean().item(),
            "scl_logits": kl.item(),
        }
    assert out.terms.keys() == expected.keys()
    for name, value in expected.items():
        assert out.terms[name] == pytest.approx(value, rel=1e-5, abs=1e-6), name
    assert out.loss is not None and out.loss.item() == pytest.approx(sum(expected.values()), rel=1e-5)


def test_zero_weights_switch_the_l1_terms_off_but_not_the_logits_term(tiny_backbone) -> None:
    method = _build(tiny_backbone, text_loss_weight=0.0, image_loss_weight=0.0)
    images, labels = _batch(1)
    method.train()
    out = method(images, labels)
    assert out.terms["scl_text"] == 0.0 and out.terms["scl_image"] == 0.0
    assert out.terms["scl_logits"] > 0.0  # the KL term has no weight in the authors' code
    assert out.loss is not None
    assert out.loss.item() == pytest.approx(out.terms["ce"] + out.terms["scl_logits"], rel=1e-6)


def test_evaluation_is_the_prompted_logits_only(tiny_backbone) -> None:
    method = _build(tiny_backbone)
    images, labels = _batch(2)
    with method.evaluating():
        evaluated = method(images).logits
    method.train()
    trained = method(images, labels).logits.detach()
    torch.testing.assert_close(evaluated, trained)


def test_gaussian_weights_are_the_normalised_density() -> None:
    weights = gaussian_epoch_weights(20, 15, 1)
    assert sum(weights) == pytest.approx(1.0, abs=1e-15)
    assert max(range(20), key=weights.__getitem__) == 14  # epoch 15 (1-based) carries the most weight
    assert weights[13] == weights[15]  # symmetric around the mean
    assert gaussian_epoch_weights(3, 2, 1)[0] == pytest.approx(0.274068619061197, rel=1e-15)
    with pytest.raises(ConfigError, match="standard deviation"):
        gaussian_epoch_weights(3, 2, 0)
    with pytest.raises(ConfigError, match="no mass"):
        gaussian_epoch_weights(3, 1e6, 1)


def test_gpa_weights_come_from_the_config(tiny_backbone) -> None:
    method = _build(tiny_backbone, gpa_mean=2.0, gpa_std=1.0)
    assert method.state_averaging_weights(3) == gaussian_epoch_weights(3, 2.0, 1.0)
    assert _build(tiny_backbone, gpa=False).state_averaging_weights(3) is None


def test_defaults_and_translation_are_the_authors_published_base_to_novel_config() -> None:
    defaults = PromptSRCConfig()
    assert (defaults.n_ctx_text, defaults.n_ctx_vision, defaults.depth_text, defaults.depth_vision) == (4, 4, 9, 9)
    assert (defaults.text_loss_weight, defaults.image_loss_weight, defaults.gpa_mean, defaults.gpa_std) == (
        25.0,
        10.0,
        15.0,
        1.0,
    )
    translated = build_config("promptsrc", config_from_authors("promptsrc", {}))
    assert translated == defaults
    cross = config_from_authors(
        "promptsrc",
        {"TRAINER.PROMPTSRC.PROMPT_DEPTH_TEXT": 3, "TRAINER.PROMPTSRC.GPA_MEAN": 6, "TRAINER.PROMPTSRC.GPA_STD": 10},
    )
    assert (cross["depth_text"], cross["gpa_mean"], cross["gpa_std"]) == (3, 6.0, 10.0)


@pytest.mark.parametrize(
    ("field", "value"), [("gpa_std", 0.0), ("text_loss_weight", -1.0), ("image_loss_weight", -0.5), ("depth_text", 0)]
)
def test_bad_config_values_name_the_field(field: str, value: float) -> None:
    with pytest.raises(ConfigError, match=field):
        build_config("promptsrc", {field: value})
