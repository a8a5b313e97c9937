"""Engine paths around frozen features: the on-disk cache at evaluation, the linear probe's closed-form
fit, and zero-shot CLIP from LLM descriptions."""

from __future__ import annotations

import json

import pytest
import torch

from hicropl.clip import image_cache
from hicropl.engine.data import Evaluation, class_set, load_evaluation
from hicropl.engine.evaluate import evaluate
from hicropl.engine.frozen_features import cached_frozen_features
from hicropl.engine.run import train
from hicropl.methods.base import build_method
from tests.engine.engine_testkit import tiny_run_config

HICROPL = {"n_ctx": 2, "depth": 4, "boundary": 2}


@pytest.fixture
def counted_computations(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    calls: list[int] = []
    original = image_cache.compute_frozen_features

    def counting(backbone, loader, count):  # type: ignore[no-untyped-def]
        calls.append(count)
        return original(backbone, loader, count)

    monkeypatch.setattr(image_cache, "compute_frozen_features", counting)
    return calls


def test_cached_evaluation_equals_uncached(data_root, tiny_backbone, counted_computations) -> None:
    chosen, dataset = load_evaluation(Evaluation("EuroSAT", "all"), data_root, tiny_backbone)
    method = build_method("hicropl", tiny_backbone, class_set(chosen), HICROPL)
    loader = torch.utils.data.DataLoader(dataset, batch_size=5)
    plain = evaluate(method, loader, chosen.classnames)

    frozen = cached_frozen_features(method, dataset, "EuroSAT", "test", batch_size=7, num_workers=0)
    assert frozen is not None and frozen.shape == (len(dataset), tiny_backbone.embed_dim)
    cached = evaluate(method, loader, chosen.classnames, frozen_features=frozen)
    assert cached.to_dict() == plain.to_dict()

    again = cached_frozen_features(method, dataset, "EuroSAT", "test", batch_size=3, num_workers=0)
    assert counted_computations == [len(dataset)]  # the second request is served from disk
    assert torch.equal(again, frozen)

    # The cached features are the frozen tower's, in dataset order (not the loader's batch order).
    direct = tiny_backbone.encode_image(torch.stack([dataset[i][0] for i in (4, 0)]), normalize=True)
    torch.testing.assert_close(frozen[[4, 0]], direct, atol=1e-5, rtol=1e-5)


def test_methods_without_frozen_features_get_no_cache(data_root, tiny_backbone, counted_computations) -> None:
    chosen, dataset = load_evaluation(Evaluation("EuroSAT", "all"), data_root, tiny_backbone)
    coop = build_method("coop", tiny_backbone, class_set(chosen), {"n_ctx": 2})
    assert cached_frozen_features(coop, dataset, "EuroSAT", "test", batch_size=4, num_workers=0) is None
    assert counted_computations == []


def test_runs_share_the_cache_and_switching_it_off_changes_nothing(
    tmp_path, data_root, tiny_checkpoint, counted_computations
) -> None:
    results = {}
    for name, cache in (("cached", "true"), ("again", "true"), ("uncached", "false")):
        config = tiny_run_config(
            data_root,
            tiny_checkpoint,
            f"train.feature_cache={cache}",
            "train.selection=best_val",  # validation runs, so the val images are cached too
            "train.epochs=1",
            "method.n_ctx=2",
            "method.depth=4",
            "method.boundary=2",
            method="hicropl",
        )
        results[name] = train(config, tmp_path / name, quiet=True, progress=False)
    # One computation per image list (val, base test, novel test), all in the first run.
    assert len(counted_computations) == 3
    for name in ("again", "uncached"):
        assert results[name]["summary"] == results["cached"]["summary"]
        assert results[name]["evaluations"] == results["cached"]["evaluations"]


def test_linear_probe_is_fitted_by_the_engine(tmp_path, data_root, tiny_checkpoint) -> None:
    config = tiny_run_config(
        data_root, tiny_checkpoint, "data.protocol=fewshot", "method.search_steps=2", method="linear_probe"
    )
    result = train(config, tmp_path / "probe", quiet=True, progress=False)
    record = result["method_records"]["linear_probe"]
    assert record["C"] > 0 and len(record["search"]) >= 7  # CoOp's grid, then the bisection
    # Each class of the miniature EuroSAT has its own colour: a fitted probe separates them.
    assert record["val_accuracy"] == 100.0
    assert result["evaluations"]["EuroSAT"]["accuracy"] >= 90.0
    state = torch.load(tmp_path / "probe" / "checkpoint.pt", weights_only=True)
    assert bool(state["method"]["fitted"])


def test_zero_shot_from_llm_descriptions(tmp_path, data_root, tiny_checkpoint) -> None:
    config = tiny_run_config(data_root, tiny_checkpoint, "method.prompts=descriptions", method="zeroshot")
    result = train(config, tmp_path / "zs", quiet=True, progress=False)
    assert result["method_records"]["text_source"].startswith("llm_descriptions:eurosat")
    templates = tiny_run_config(data_root, tiny_checkpoint, method="zeroshot")
    other = train(templates, tmp_path / "zs_templates", quiet=True, progress=False)
    assert other["method_records"]["text_source"] == "templates:dataset"
    assert json.loads((tmp_path / "zs" / "result.json").read_text())["method"] == "zeroshot"
