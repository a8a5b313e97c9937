"""Accuracy, macro-F1 and per-class accuracy from a confusion matrix, checked by hand."""

from __future__ import annotations

import pytest
import torch

from hicropl.engine.metrics import metrics_from_confusion, update_confusion


def _f1(labels: list[int], preds: list[int], classes: int) -> float:
    scores = []
    for c in range(classes):
        tp = sum(1 for y, p in zip(labels, preds, strict=True) if y == c and p == c)
        fp = sum(1 for y, p in zip(labels, preds, strict=True) if y != c and p == c)
        fn = sum(1 for y, p in zip(labels, preds, strict=True) if y == c and p != c)
        if tp + fp + fn == 0:
            continue  # neither a label nor a prediction: not counted (scikit-learn's default)
        scores.append(2 * tp / (2 * tp + fp + fn))
    return 100 * sum(scores) / len(scores)


def test_metrics_by_hand():
    labels = [0, 0, 0, 1, 1, 2, 2, 2, 2]
    preds = [0, 0, 1, 1, 2, 2, 2, 2, 0]
    confusion = torch.zeros(4, 4, dtype=torch.long)
    update_confusion(confusion, torch.tensor(labels[:4]), torch.tensor(preds[:4]))
    update_confusion(confusion, torch.tensor(labels[4:]), torch.tensor(preds[4:]))
    metrics = metrics_from_confusion(confusion, ["a", "b", "c", "d"])
    assert metrics.count == 9
    assert metrics.accuracy == pytest.approx(100 * 6 / 9)
    assert metrics.per_class == pytest.approx({"a": 100 * 2 / 3, "b": 50.0, "c": 75.0})  # "d" has no images
    assert metrics.macro_f1 == pytest.approx(_f1(labels, preds, 4))


def test_a_predicted_class_without_images_counts_in_macro_f1():
    labels, preds = [0, 0, 1], [0, 2, 1]
    confusion = torch.zeros(3, 3, dtype=torch.long)
    update_confusion(confusion, torch.tensor(labels), torch.tensor(preds))
    metrics = metrics_from_confusion(confusion, ["a", "b", "c"])
    assert metrics.macro_f1 == pytest.approx(_f1(labels, preds, 3))
    assert "c" not in metrics.per_class
