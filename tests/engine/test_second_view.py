"""The engine hands a second augmented view of each training image only to methods that declare it."""

from __future__ import annotations

import json
from typing import ClassVar

import torch

from hicropl.engine.run import train
from hicropl.errors import ConfigError
from hicropl.methods.base import MethodOutput, get_method_class, register_method
from tests.engine.engine_testkit import LearnableHead, tiny_run_config


class ViewProbe(LearnableHead):
    """The test head, recording the second view it is handed in training."""

    name = "probe_one_view"
    seen: ClassVar[list[tuple[torch.Tensor, torch.Tensor | None]]] = []

    def forward(
        self,
        images: torch.Tensor,
        labels: torch.Tensor | None = None,
        frozen_image: torch.Tensor | None = None,
        *,
        second_view: torch.Tensor | None = None,
    ) -> MethodOutput:
        if labels is not None:
            self.seen.append((images.detach().cpu(), None if second_view is None else second_view.detach().cpu()))
        return super().forward(images, labels, frozen_image, second_view=second_view)


class SecondViewProbe(ViewProbe):
    name = "probe_two_views"
    takes_second_view = True
    train_augmentation = "randaugment"
    seen: ClassVar[list[tuple[torch.Tensor, torch.Tensor | None]]] = []


for _probe in (ViewProbe, SecondViewProbe):
    try:
        get_method_class(_probe.name)
    except ConfigError:
        register_method(_probe)


def test_a_method_that_declares_it_gets_a_different_view_of_each_image(tmp_path, data_root, tiny_checkpoint):
    SecondViewProbe.seen.clear()
    train(tiny_run_config(data_root, tiny_checkpoint, method=SecondViewProbe.name), tmp_path / "a", quiet=True)
    first_run = list(SecondViewProbe.seen)
    assert len(first_run) == 4  # 2 epochs x 2 steps
    for images, second in first_run:
        assert second is not None and second.shape == images.shape
        assert not torch.equal(images, second)
    # Seeded: the same run serves the same views.
    SecondViewProbe.seen.clear()
    train(tiny_run_config(data_root, tiny_checkpoint, method=SecondViewProbe.name), tmp_path / "b", quiet=True)
    for (images, second), (images_again, second_again) in zip(first_run, SecondViewProbe.seen, strict=True):
        assert torch.equal(images, images_again) and second_again is not None and torch.equal(second, second_again)


def test_a_method_that_does_not_declare_it_gets_none(tmp_path, data_root, tiny_checkpoint):
    ViewProbe.seen.clear()
    train(tiny_run_config(data_root, tiny_checkpoint, method=ViewProbe.name), tmp_path / "run", quiet=True)
    assert ViewProbe.seen and all(second is None for _, second in ViewProbe.seen)


def test_coprompt_trains_on_the_second_view(tmp_path, data_root, tiny_checkpoint):
    config = tiny_run_config(
        data_root, tiny_checkpoint, "method.n_ctx=2", "method.depth=2", method="coprompt", train__epochs=1
    )
    result = train(config, tmp_path / "run", quiet=True)
    metrics = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert {"ce", "distill_text", "distill_image"} <= set(metrics[0])
    assert result["method_records"]["frozen_text"].startswith("llm_random:")
