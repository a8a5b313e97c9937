"""Shared by the engine, CLI and results tests: a trainable test-only method and tiny dataset folders."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn
from torch.utils.data import Dataset

from hicropl.clip.features import template_features
from hicropl.clip.load import CLIPBackbone
from hicropl.errors import ConfigError
from hicropl.methods.base import (
    ClassSet,
    MethodConfig,
    MethodOutput,
    MethodRuntime,
    PromptMethod,
    get_method_class,
    register_method,
)

# EuroSAT folder -> CoOp class name, for the first classes of a miniature EuroSAT.
EUROSAT = [
    ("AnnualCrop", "Annual Crop Land"),
    ("Forest", "Forest"),
    ("HerbaceousVegetation", "Herbaceous Vegetation Land"),
    ("Highway", "Highway or Road"),
]
COLOURS = [(220, 40, 40), (40, 200, 60), (50, 60, 230), (230, 220, 40), (200, 40, 220), (40, 220, 220)]


@dataclass
class HeadConfig(MethodConfig):
    dropout: float = 0.1
    nan_after: int = -1  # test hook: the loss becomes NaN from this training forward on


class LearnableHead(PromptMethod[HeadConfig]):
    """A residual linear map on frozen image features against frozen template text features."""

    name = "test_head"
    config_class = HeadConfig
    text: torch.Tensor
    forwards: torch.Tensor

    def __init__(
        self, config: HeadConfig, backbone: CLIPBackbone, classes: ClassSet, runtime: MethodRuntime | None = None
    ) -> None:
        super().__init__(config, backbone, classes, runtime)
        self.proj = nn.Linear(backbone.embed_dim, backbone.embed_dim)
        self.register_buffer("forwards", torch.zeros((), dtype=torch.long))
        self.runtime.records["text_source"] = "template"
        self.set_classes(classes)

    def set_classes(self, classes: ClassSet) -> None:
        super().set_classes(classes)
        text = template_features(self.backbone, classes.names, ("a photo of a {}.",))
        self.register_buffer("text", text, persistent=False)

    def class_features(self) -> torch.Tensor:
        return self.text

    def forward(
        self,
        images: torch.Tensor,
        labels: torch.Tensor | None = None,
        frozen_image: torch.Tensor | None = None,
        *,
        second_view: torch.Tensor | None = None,
    ) -> MethodOutput:
        with torch.no_grad():
            image = self.backbone.encode_image(images, normalize=True)
        hidden = F.dropout(image, self.config.dropout, self.training)
        feature = F.normalize(image + self.proj(hidden), dim=-1)
        logits = self.logit_scale() * feature @ self.cached_class_features().t()
        if labels is None:
            return MethodOutput(logits)
        self.forwards += 1
        loss = F.cross_entropy(logits, labels)
        if 0 <= self.config.nan_after < int(self.forwards):
            loss = loss * float("nan")
        return MethodOutput(logits, loss, {"ce": float(loss.detach())})


CLASSES = ["red", "green", "blue"]


class RandomImages(Dataset):
    """Eight random 32 px images of three classes, with a random perturbation as augmentation."""

    def __init__(self, count: int = 8) -> None:
        generator = torch.Generator().manual_seed(7)
        self.images = torch.randn(count, 3, 32, 32, generator=generator)
        self.labels = torch.arange(count) % len(CLASSES)

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int):
        # Random "augmentation": it must follow the sample, not the process that loads it.
        return self.images[index] + 0.1 * torch.randn(3, 32, 32), int(self.labels[index]), index


def register_test_method() -> None:
    try:
        get_method_class(LearnableHead.name)
    except ConfigError:
        register_method(LearnableHead)


register_test_method()


def _image(path: Path, colour: tuple[int, int, int], rng: np.random.Generator, size: int = 40) -> None:
    noise = rng.integers(-40, 40, size=(size, size, 3))
    pixels = np.clip(np.array(colour)[None, None, :] + noise, 0, 255).astype(np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path)


def make_eurosat(root: Path, classes: int = 4, train: int = 8, val: int = 4, test: int = 6, seed: int = 0) -> Path:
    """A miniature EuroSAT in CoOp's layout (``root/eurosat/2750`` + its split file); returns ``root``."""
    rng = np.random.default_rng(seed)
    folder = root / "eurosat"
    split: dict[str, list[list[object]]] = {"train": [], "val": [], "test": []}
    for label, (directory, name) in enumerate(EUROSAT[:classes]):
        index = 0
        for part, count in (("train", train), ("val", val), ("test", test)):
            for _ in range(count):
                index += 1
                relative = f"{directory}/{directory}_{index}.jpg"
                _image(folder / "2750" / relative, COLOURS[label], rng)
                split[part].append([relative, label, name])
    (folder / "split_zhou_EuroSAT.json").write_text(json.dumps(split))
    return root


def tiny_run_config(data_root: Path, clip: Path, *overrides: str, method: str = "test_head", **flags: object):
    """A fast run config on the miniature EuroSAT: 4 shots, batch 4, 2 epochs, no workers."""
    from hicropl.engine.run_config import load_run_config

    base = {
        "method.name": method,
        "data.dataset": "EuroSAT",
        "data.root": str(data_root),
        "data.protocol": "base2novel",
        "data.shots": 4,
        "clip": str(clip),
        "seed": 1,
        "train.epochs": 2,
        "train.batch_size": 4,
        "train.eval_batch_size": 16,
        "train.num_workers": 0,
    }
    base.update({key.replace("__", "."): value for key, value in flags.items()})
    return load_run_config(None, base, overrides)
