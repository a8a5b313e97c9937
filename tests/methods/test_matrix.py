"""Every method case through the same behavioural tests, on the tiny CLIP."""

from __future__ import annotations

import copy
import inspect

import pytest
import torch

from hicropl.methods import ClassSet, PromptMethod, build_method, get_method_class, list_methods
from tests.methods.cases import CASES, CLASSNAMES, DESCRIPTIONS, MethodCase

CLASSES = ClassSet(CLASSNAMES, dataset="Toy", descriptions=DESCRIPTIONS)


def _batch(seed: int = 0, n: int = 4) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(n, 3, 32, 32, generator=gen), torch.randint(len(CLASSNAMES), (n,), generator=gen)


def _build(case: MethodCase, backbone, seed: int = 0):
    torch.manual_seed(seed)
    return build_method(case.method, backbone, CLASSES, case.config)


def _train_forward(method, images, labels):
    """A training forward as the engine makes it: methods that declare ``takes_second_view`` also get a
    second view of the images (here flipped; the engine's is a second random augmentation)."""
    second_view = images.flip(-1) if method.takes_second_view else None
    return method(images, labels, second_view=second_view)


def _step(method, images, labels, lr: float = 1e-2) -> float:
    params = method.trainable_parameters()
    method.train()
    out = _train_forward(method, images, labels)
    if params:
        optimizer = torch.optim.SGD(params, lr=lr)
        optimizer.zero_grad()
        out.loss.backward()
        optimizer.step()
    return out.loss.item()


@pytest.fixture(params=CASES, ids=[c.id for c in CASES])
def case(request) -> MethodCase:
    return request.param


def test_every_library_method_has_a_case():
    # Methods the tests themselves register (engine_testkit's test_head) are not the library's.
    library = {name for name in list_methods() if get_method_class(name).__module__.startswith("hicropl.")}
    missing = sorted(library - {case.method for case in CASES})
    assert not missing, f"registered method(s) {missing} have no MethodCase in tests/methods/cases.py"


def test_forward_keeps_the_base_signature(case):
    cls = get_method_class(case.method)
    assert inspect.signature(cls.forward) == inspect.signature(PromptMethod.forward)


def test_precomputed_frozen_image_features_change_nothing(case, tiny_backbone):
    # Every method accepts them; those that use them get the features they would compute themselves.
    images, _ = _batch(9)
    frozen = tiny_backbone.encode_image(images)
    plain, given = _build(case, tiny_backbone, seed=2), _build(case, tiny_backbone, seed=2)
    with plain.evaluating(), given.evaluating():
        expected = plain(images).logits
        torch.testing.assert_close(given(images, frozen_image=frozen).logits, expected, atol=1e-5, rtol=1e-5)


def test_closed_form_fitting_is_declared(case, tiny_backbone):
    method = _build(case, tiny_backbone)
    if method.fits_in_closed_form:
        assert not method.is_fitted  # fitted by the engine after training, not at construction
    else:
        with pytest.raises(NotImplementedError, match="trained by the optimiser"):
            method.fit_closed_form([], None)


def test_output_shapes(case, tiny_backbone):
    method = _build(case, tiny_backbone)
    images, labels = _batch()
    out = _train_forward(method, images, labels)
    assert out.logits.shape == (4, len(CLASSNAMES))
    assert out.loss.dim() == 0 and torch.isfinite(out.loss)
    with method.evaluating():
        assert method(images).logits.shape == (4, len(CLASSNAMES))


def test_exactly_the_intended_parameters_learn(case, tiny_backbone):
    method = _build(case, tiny_backbone)
    method.train()
    images, labels = _batch()
    loss = _train_forward(method, images, labels).loss
    assert loss.requires_grad == bool(case.learns)
    if loss.requires_grad:
        loss.backward()
    for name, param in method.named_parameters(remove_duplicate=False):
        should = name.startswith(case.learns) if case.learns else False
        got = param.grad is not None and bool(param.grad.abs().sum() > 0)
        assert got == should, f"{name}: gradient {'present' if got else 'absent'}"
    assert all(p.grad is None for p in tiny_backbone.parameters())


def test_backbone_untouched_by_a_training_step(case, tiny_backbone):
    before = copy.deepcopy(tiny_backbone.model.state_dict())
    method = _build(case, tiny_backbone)
    _step(method, *_batch())
    for key, value in tiny_backbone.model.state_dict().items():
        assert torch.equal(value, before[key]), key
    # The backbone is referenced, never registered: it is not in the method's state.
    assert not any(key.startswith(("model.", "backbone.")) for key in method.state_dict())


def test_same_seed_same_run(case, tiny_backbone):
    losses = []
    for _ in range(2):
        method = _build(case, tiny_backbone, seed=3)
        losses.append([_step(method, *_batch(s)) for s in range(3)])
    assert losses[0] == losses[1]


def test_state_dict_round_trip(case, tiny_backbone):
    source = _build(case, tiny_backbone, seed=1)
    _step(source, *_batch())
    target = _build(case, tiny_backbone, seed=2)
    target.load_state_dict(copy.deepcopy(source.state_dict()))
    images, _ = _batch(5)
    with source.evaluating(), target.evaluating():
        torch.testing.assert_close(target(images).logits, source(images).logits, atol=0, rtol=0)


def test_evaluation_side_effects(case, tiny_backbone):
    method = _build(case, tiny_backbone)
    images, _ = _batch(7)
    with method.evaluating():
        first = method(images).logits
        second = method(images).logits
    assert torch.equal(first, second) == case.deterministic_eval


def test_loss_falls_on_a_tiny_run(case, tiny_backbone):
    method = _build(case, tiny_backbone)
    if not method.trainable_parameters():
        pytest.skip("nothing to train")
    images, labels = _batch(11, n=8)
    params = method.trainable_parameters()
    optimizer = torch.optim.Adam(params, lr=2e-3)
    losses = []
    method.train()
    for _ in range(30):
        loss = _train_forward(method, images, labels).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert sum(losses[-5:]) / 5 < 0.9 * sum(losses[:5]) / 5, losses
