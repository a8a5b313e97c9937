"""Quick in-memory zero-shot accuracy of a CLIP on ToyWorld data (no files, no engine).

Used to record the pretrained model's zero-shot accuracy and to check that the weights behave as
recorded. The engine's ``zeroshot`` method gives the same numbers on the generated dataset folders
(the images are the same pixels, and the test transform is the identity at 32 px).
"""

from __future__ import annotations

import torch

from hicropl.clip.load import CLIPBackbone
from hicropl.data.subsample import subset_labels
from hicropl.data.toyworld.datasets import ToyDataset
from hicropl.toyworld.pretrain import images_to_tensor

DEFAULT_TEMPLATE = "a photo of a {}."


@torch.no_grad()
def zero_shot_accuracy(
    backbone: CLIPBackbone,
    dataset: ToyDataset,
    subset: str = "all",
    split: str = "test",
    template: str = DEFAULT_TEMPLATE,
    per_class: int | None = None,
) -> float:
    """Top-1 accuracy (%) of ``template`` prompts over the ``subset`` classes ("all", "base", "new")."""
    images, labels = dataset.render_split(split, per_class)
    kept = subset_labels(dataset.num_classes, subset)
    keep = (labels >= kept.start) & (labels < kept.stop)
    names = dataset.classnames[kept.start : kept.stop]
    text = backbone.encode_text([template.format(name) for name in names], normalize=True)
    correct = 0
    x = images_to_tensor(images[keep])
    y = torch.as_tensor(labels[keep] - kept.start)
    for start in range(0, len(x), 512):
        feats = backbone.encode_image(x[start : start + 512].to(backbone.device), normalize=True)
        correct += int(((feats @ text.t()).argmax(-1).cpu() == y[start : start + 512]).sum())
    return 100.0 * correct / max(1, len(y))
