"""Evaluation: class text features once per evaluation, predictions summed into a confusion matrix."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import torch
from tqdm.auto import tqdm

from hicropl.engine.distributed import DistInfo, all_reduce_sum
from hicropl.engine.metrics import EvalMetrics, metrics_from_confusion, update_confusion
from hicropl.methods.base import PromptMethod
from hicropl.precision import Precision, autocast


def evaluate(
    method: PromptMethod,
    loader: Iterable,
    classnames: Sequence[str],
    precision: Precision = "fp32",
    dist: DistInfo | None = None,
    progress: bool = False,
    description: str = "eval",
    frozen_features: torch.Tensor | None = None,
) -> EvalMetrics:
    """Accuracy, macro-F1 and per-class accuracy of ``method`` on ``loader`` over ``classnames``.

    ``frozen_features`` (``[N, d]``, indexed by the dataset indices the loader yields third) are the
    cached frozen image features of the loader's images; methods that use them then skip the frozen
    image tower. Under DDP each process evaluates its shard and the confusion matrices are summed.
    """
    dist = dist or DistInfo()
    device = method.device
    confusion = torch.zeros(len(classnames), len(classnames), dtype=torch.long)
    bar = tqdm(loader, desc=description, leave=False, disable=not progress or not dist.is_main, unit="batch")
    with autocast(precision, device), method.evaluating():
        for batch in bar:
            images, labels = batch[0], batch[1]
            images = images.to(device, non_blocking=True)
            if frozen_features is None:
                logits = method(images).logits
            else:
                frozen = frozen_features[torch.as_tensor(batch[2]).long()].to(device, non_blocking=True)
                logits = method(images, frozen_image=frozen).logits
            update_confusion(confusion, labels, logits.argmax(dim=-1))
    bar.close()
    if dist.enabled:
        reduce_device = device if torch.distributed.get_backend() == "nccl" else torch.device("cpu")
        summed = all_reduce_sum(confusion.to(reduce_device), dist)
        confusion = summed.cpu()
    return metrics_from_confusion(confusion, classnames)
