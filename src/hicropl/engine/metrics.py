"""Classification metrics from a confusion matrix (summable over batches and processes)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch


def update_confusion(confusion: torch.Tensor, labels: torch.Tensor, predictions: torch.Tensor) -> None:
    """Add a batch to ``confusion[true, predicted]`` in place."""
    n = confusion.shape[0]
    flat = labels.to(torch.long).cpu() * n + predictions.to(torch.long).cpu()
    confusion += torch.bincount(flat, minlength=n * n).reshape(n, n)


@dataclass
class EvalMetrics:
    """Percentages (0-100) as in the paper's tables; per-class accuracy keyed by class name."""

    accuracy: float
    macro_f1: float
    per_class: dict[str, float] = field(default_factory=dict)
    count: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "accuracy": self.accuracy,
            "macro_f1": self.macro_f1,
            "count": self.count,
            "per_class": dict(self.per_class),
        }


def metrics_from_confusion(confusion: torch.Tensor, classnames: Sequence[str]) -> EvalMetrics:
    """Overall accuracy, macro-F1 and per-class accuracy (recall of each class with test images)."""
    confusion = confusion.to(torch.float64)
    total = confusion.sum()
    correct = confusion.diag()
    support = confusion.sum(dim=1)
    predicted = confusion.sum(dim=0)
    present = support > 0
    recall = torch.where(present, correct / support.clamp(min=1), torch.zeros_like(correct))
    precision = torch.where(predicted > 0, correct / predicted.clamp(min=1), torch.zeros_like(correct))
    denominator = precision + recall
    f1 = torch.where(denominator > 0, 2 * precision * recall / denominator.clamp(min=1e-12), torch.zeros_like(correct))
    accuracy = float(correct.sum() / total) if total > 0 else 0.0
    # Like scikit-learn's default: classes that occur as a label or as a prediction.
    counted = present | (predicted > 0)
    macro_f1 = float(f1[counted].mean()) if bool(counted.any()) else 0.0
    per_class = {str(name): 100.0 * float(recall[i]) for i, name in enumerate(classnames) if bool(present[i])}
    return EvalMetrics(100.0 * accuracy, 100.0 * macro_f1, per_class, int(total))
