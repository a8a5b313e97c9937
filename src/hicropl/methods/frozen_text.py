"""The frozen "teacher" text features that consistency-regularised methods align to.

Sources (HiCroPL Table 12): ``llm_mean`` (average of the LLM descriptions of each class; the
paper's choice), ``llm_random`` (one description per class drawn each step, CoPrompt-style),
``template`` ("a photo of a {}.") and ``templates`` (CLIP's 80 ImageNet templates). Which source was
actually used is returned with the features so that the run record can say so.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from hicropl.clip.features import (
    encode_sentences,
    ensemble_features,
    imagenet_templates,
    readable,
    template_features,
)
from hicropl.clip.load import CLIPBackbone
from hicropl.data.registry import in_imagenet_family
from hicropl.data.spec import DEFAULT_TEMPLATE
from hicropl.errors import DataError
from hicropl.methods.base import ClassSet

# SHA-256 of OpenAI's ViT-B/16 TorchScript archive (it is also the folder name in OpenAI's download URL).
OPENAI_VIT_B16_SHA256 = "5806e77cd80f8b59890b7e101eabd078d9fb84e6937f9e85e4ecb61988df416f"


@dataclass
class FrozenText:
    """``mean``: one feature per class ``[C, d]``; ``sentences``: per-class description embeddings
    (only for ``llm_random``); ``source``: a human-readable provenance string."""

    mean: torch.Tensor
    source: str
    sentences: list[torch.Tensor] | None = None

    def sample(self, generator: torch.Generator | None = None) -> torch.Tensor:
        """One randomly chosen description embedding per class (``llm_random``), else ``mean``."""
        if self.sentences is None:
            return self.mean
        picks = [rows[int(torch.randint(len(rows), (1,), generator=generator))] for rows in self.sentences]
        return torch.stack(picks)


def is_openai_vit_b16(backbone: CLIPBackbone) -> bool:
    return backbone.checksum == OPENAI_VIT_B16_SHA256 or backbone.source == "open_clip:ViT-B-16:openai"


def _reference_embeddings(backbone: CLIPBackbone, classes: ClassSet) -> FrozenText | None:
    if not in_imagenet_family(classes.dataset) or not is_openai_vit_b16(backbone):
        return None
    from hicropl.data import resources

    table = torch.as_tensor(resources.reference_text_embeddings(classes.dataset)).float()
    if table.shape[0] != len(classes):
        table = table[_subset_rows([name for _, name in resources.imagenet_classnames()], classes.names, classes)]
    return FrozenText(table.to(backbone.device), f"reference_embeddings:{classes.dataset}")


def _subset_rows(full: list[str], names: tuple[str, ...], classes: ClassSet) -> list[int]:
    """Rows of a class subset (base/novel halves) in a table that follows the full label order."""
    n = len(names)
    if list(names) == full[:n]:
        return list(range(n))
    if list(names) == full[-n:]:
        return list(range(len(full) - n, len(full)))
    index = {name: i for i, name in enumerate(full)}
    missing = [name for name in names if name not in index]
    if missing:
        raise DataError(f"classes {missing[:5]} of {classes.dataset} are not in the reference embedding table")
    return [index[name] for name in names]


def _descriptions(classes: ClassSet, allow_fallback: bool) -> dict[str, list[str]] | None:
    if classes.descriptions is not None:
        return {name: list(sentences) for name, sentences in classes.descriptions.items()}
    if classes.description_file is None:
        if allow_fallback:
            return None
        raise DataError(
            f"No LLM description file is known for dataset {classes.dataset!r}, so the frozen text "
            "features cannot be built. Pass --description-fallback (method.description_fallback=true) to fall "
            "back to CLIP's template ensemble, or set method.frozen_text=templates."
        )
    from hicropl.data import resources

    return resources.descriptions_for(list(classes.names), classes.description_file, allow_missing=allow_fallback)


def build_frozen_text(
    backbone: CLIPBackbone,
    classes: ClassSet,
    source: str,
    cache_dir: Path | None,
    allow_fallback: bool = False,
) -> FrozenText:
    """Frozen text features for ``classes`` from ``source`` (see module docstring)."""
    if source == "template":
        return FrozenText(template_features(backbone, classes.names, [DEFAULT_TEMPLATE], cache_dir), "template")
    if source == "templates":
        return FrozenText(
            template_features(backbone, classes.names, imagenet_templates(), cache_dir), "templates:imagenet80"
        )
    if source == "llm_mean":
        reference = _reference_embeddings(backbone, classes)
        if reference is not None:
            return reference
    if in_imagenet_family(classes.dataset) and classes.description_file is None and classes.descriptions is None:
        # The ImageNet description files are not public; CLIP's template ensemble stands in.
        feats = template_features(backbone, classes.names, imagenet_templates(), cache_dir)
        return FrozenText(feats, "templates:imagenet80 (ImageNet-family fallback)")
    found = _descriptions(classes, allow_fallback)
    groups: list[list[str]] = []
    fallback_classes = []
    for name in classes.names:
        sentences = (found or {}).get(name) or (found or {}).get(readable(name))
        if sentences:
            groups.append(list(sentences))
        else:
            fallback_classes.append(name)
            groups.append([template.format(readable(name)) for template in imagenet_templates()])
    if fallback_classes and not allow_fallback:
        raise DataError(
            f"No LLM description for {len(fallback_classes)} classes: {', '.join(fallback_classes[:10])}. Add them "
            "to the description file, or pass --description-fallback (method.description_fallback=true) to use "
            "CLIP's template ensemble for those classes."
        )
    label = f"llm_descriptions:{classes.description_file or 'given'}"
    if fallback_classes:
        label += f" (template fallback for {len(fallback_classes)} classes)"
    if source == "llm_mean":
        return FrozenText(ensemble_features(backbone, groups, cache_dir), label)
    encoded = [encode_sentences(backbone, group) for group in groups]
    mean = torch.nn.functional.normalize(torch.stack([s.mean(0) for s in encoded]), dim=-1)
    return FrozenText(mean, label.replace("llm_descriptions", "llm_random"), encoded)
