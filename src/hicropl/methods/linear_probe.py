"""Linear-probe CLIP: multinomial logistic regression on frozen, L2-normalised image features.

CoOp's linear-probe baseline (Zhou et al., IJCV 2022, following Radford et al. 2021): fit an
L2-regularised logistic regression on the few-shot training features for each inverse
regularisation strength ``C`` of a coarse grid, keep the one with the best validation accuracy,
refine it by a bisection in log10(C) between ``C/10`` and ``10*C``, and evaluate on the test split.

The solver is full-batch L-BFGS (strong-Wolfe line search) in torch, minimising scikit-learn's
objective divided by the sample count: ``mean_i CE_i + ||W||^2 / (2 C N)`` (the bias is not
penalised), from zeros, in float64 by default: deterministic and with no extra dependency.

Training is not SGD: the linear probe declares ``fits_in_closed_form`` and the engine calls its
:meth:`LinearProbe.fit_closed_form` after the (empty) training loop (or a user calls
:meth:`LinearProbe.fit` with precomputed features). The head's parameters are therefore frozen
(``trainable_parameters()`` is empty, so an SGD loop leaves them alone); they are fitted state, saved
in the state dict with a ``fitted`` flag. Its size is ``(e + 1) * C``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import nn

from hicropl.clip.load import CLIPBackbone
from hicropl.errors import ConfigError
from hicropl.methods.base import ClassSet, MethodConfig, MethodOutput, MethodRuntime, PromptMethod, register_method
from hicropl.typed_config import require

COOP_C_GRID: tuple[float, ...] = (1e6, 1e4, 1e2, 1.0, 1e-2, 1e-4, 1e-6)


@dataclass
class LinearProbeConfig(MethodConfig):
    c_grid: tuple[float, ...] = COOP_C_GRID  # coarse search over C (inverse L2 strength), CoOp's grid
    search_steps: int = 8  # bisection steps in log10(C) around the best grid value (0 = grid only)
    c: float | None = None  # a fixed C: no search, no validation split needed
    max_iter: int = 1000  # L-BFGS iterations per fit
    tolerance: float = 1e-8  # L-BFGS first-order optimality tolerance
    solver_dtype: Literal["float64", "float32"] = "float64"
    cache_features: bool = True  # cache train/val features on disk (runtime cache dir)

    def __post_init__(self) -> None:
        require(len(self.c_grid) > 0, "c_grid", "give at least one C value")
        require(all(c > 0 for c in self.c_grid), "c_grid", f"every C must be > 0, got {list(self.c_grid)}")
        require(self.search_steps >= 0, "search_steps", f"must be >= 0, got {self.search_steps}")
        require(self.c is None or self.c > 0, "c", f"must be > 0, got {self.c}")
        require(self.max_iter >= 1, "max_iter", f"must be >= 1, got {self.max_iter}")
        require(self.tolerance > 0, "tolerance", f"must be > 0, got {self.tolerance}")


@dataclass
class LinearProbeFit:
    """The outcome of a fit: the chosen C, its validation accuracy, and every C tried in order."""

    c: float
    val_accuracy: float | None
    history: list[tuple[float, float]] = field(default_factory=list)
    # What was fitted and how, for the log.
    train_images: int = 0
    classes: int = 0
    solver: str = ""
    fixed_c: bool = False

    def as_record(self) -> dict[str, Any]:
        return {"C": self.c, "val_accuracy": self.val_accuracy, "search": [list(pair) for pair in self.history]}

    def summary(self) -> str:
        """``C=... (how it was chosen), what was fitted (how)``: one log line."""
        val = "no val split" if self.val_accuracy is None else f"val accuracy {self.val_accuracy:.2f}%"
        how = "fixed by method.c" if self.fixed_c else f"the best of {len(self.history)} values of C tried on it"
        return (
            f"C={self.c:g} ({val}, {how}), a {self.classes}-class logistic regression on the L2-normalised frozen "
            f"image features of {self.train_images} training images ({self.solver})"
        )


def fit_logistic_regression(
    features: torch.Tensor,
    labels: torch.Tensor,
    num_classes: int,
    c: float,
    *,
    max_iter: int = 1000,
    tolerance: float = 1e-8,
    dtype: torch.dtype = torch.float64,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Multinomial logistic regression with an L2 penalty on the weights, by full-batch L-BFGS.

    Minimises ``mean_i CE(W x_i + b, y_i) + ||W||^2 / (2 C N)`` from zeros. Returns ``(W [K, d], b [K])``.
    """
    x = features.detach().to(dtype)
    y = labels.detach().to(x.device, torch.long)
    count, dim = x.shape
    weight = torch.zeros(num_classes, dim, dtype=dtype, device=x.device, requires_grad=True)
    bias = torch.zeros(num_classes, dtype=dtype, device=x.device, requires_grad=True)
    penalty = 0.5 / (c * count)
    optimizer = torch.optim.LBFGS(
        [weight, bias],
        lr=1.0,
        max_iter=max_iter,
        max_eval=max_iter * 5 // 4,
        tolerance_grad=tolerance,
        tolerance_change=1e-12,
        history_size=10,
        line_search_fn="strong_wolfe",
    )

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        loss = F.cross_entropy(x @ weight.t() + bias, y) + penalty * weight.pow(2).sum()
        loss.backward()
        return loss

    with torch.enable_grad(), torch.autocast(x.device.type, enabled=False):
        optimizer.step(closure)
    return weight.detach(), bias.detach()


def _accuracy(weight: torch.Tensor, bias: torch.Tensor, features: torch.Tensor, labels: torch.Tensor) -> float:
    """Top-1 accuracy in percent, like every other accuracy the library reports."""
    predictions = (features.to(weight.dtype) @ weight.t() + bias).argmax(dim=-1)
    return 100.0 * float((predictions == labels.to(predictions.device)).double().mean().item())


@register_method
class LinearProbe(PromptMethod[LinearProbeConfig]):
    name = "linear_probe"
    config_class = LinearProbeConfig
    uses_frozen_image_features = True
    fits_in_closed_form = True
    fitted: torch.Tensor  # a bool buffer, saved with the head

    def __init__(
        self, config: LinearProbeConfig, backbone: CLIPBackbone, classes: ClassSet, runtime: MethodRuntime | None = None
    ) -> None:
        super().__init__(config, backbone, classes, runtime)
        self.head = self._new_head(len(classes))
        self.register_buffer("fitted", torch.tensor(False))
        self.to(backbone.device)
        self.set_classes(classes)

    def _new_head(self, num_classes: int) -> nn.Linear:
        """A zero head: fitted by :meth:`fit`, never by the optimiser (its parameters are frozen)."""
        head = nn.Linear(self.backbone.embed_dim, num_classes)
        nn.init.zeros_(head.weight)
        nn.init.zeros_(head.bias)
        return head.requires_grad_(False)

    # --- classes --------------------------------------------------------------------------------
    def set_classes(self, classes: ClassSet) -> None:
        if tuple(classes.names) != tuple(self.classes.names):
            if bool(self.fitted):
                raise ConfigError(
                    f"linear_probe: the head was fitted on {len(self.classes)} classes and cannot classify other "
                    "classes (base -> novel, another dataset); use it with the few-shot protocol"
                )
            self.head = self._new_head(len(classes)).to(self.device)
        super().set_classes(classes)

    def class_features(self) -> torch.Tensor:
        """The fitted class weights ``[C, e]`` (the linear probe's counterpart of class text features)."""
        return self.head.weight

    # --- forward --------------------------------------------------------------------------------
    def forward(
        self,
        images: torch.Tensor,
        labels: torch.Tensor | None = None,
        frozen_image: torch.Tensor | None = None,
        *,
        second_view: torch.Tensor | None = None,
    ) -> MethodOutput:
        if frozen_image is None:
            with torch.no_grad():
                frozen_image = self.backbone.encode_image(images)
        features = F.normalize(frozen_image.float().to(self.head.weight.device), dim=-1)
        logits = self.head(features)
        if labels is None:
            return MethodOutput(logits=logits)
        ce = F.cross_entropy(logits, labels)
        return MethodOutput(logits=logits, loss=ce, terms={"ce": ce.item()})

    # --- fitting --------------------------------------------------------------------------------
    @torch.no_grad()
    def fit(
        self,
        train_features: torch.Tensor,
        train_labels: torch.Tensor,
        val_features: torch.Tensor | None = None,
        val_labels: torch.Tensor | None = None,
    ) -> LinearProbeFit:
        """Fit the head on (train) features, choosing C on (val) features; returns what was chosen.

        Features are L2-normalised here, as in the forward. With ``config.c`` set, C is fixed and the
        validation split is optional (its accuracy is still reported when given).
        """
        cfg = self.config
        num_classes = len(self.classes)
        dtype = torch.float64 if cfg.solver_dtype == "float64" else torch.float32
        device = self.head.weight.device
        x_train = F.normalize(train_features.to(device).float(), dim=-1)
        y_train = train_labels.to(device).long()
        self._check_labels(y_train, "train")
        has_val = val_features is not None and val_labels is not None
        if has_val:
            x_val = F.normalize(val_features.to(device).float(), dim=-1)  # type: ignore[union-attr]
            y_val = val_labels.to(device).long()  # type: ignore[union-attr]
            self._check_labels(y_val, "val")
        elif cfg.c is None:
            raise ConfigError("c: searching C needs validation features and labels; pass them or set a fixed c")

        solutions: dict[float, tuple[torch.Tensor, torch.Tensor, float | None]] = {}
        history: list[tuple[float, float]] = []

        def evaluate(c: float) -> float:
            if c not in solutions:
                weight, bias = fit_logistic_regression(
                    x_train, y_train, num_classes, c, max_iter=cfg.max_iter, tolerance=cfg.tolerance, dtype=dtype
                )
                accuracy = _accuracy(weight, bias, x_val, y_val) if has_val else None
                solutions[c] = (weight, bias, accuracy)
                if accuracy is not None:
                    history.append((c, accuracy))
            accuracy = solutions[c][2]
            return -math.inf if accuracy is None else accuracy

        if cfg.c is not None:
            best = cfg.c
            evaluate(best)
        else:
            best = self._search(evaluate)
        weight, bias, accuracy = solutions[best]
        self.head.weight.copy_(weight.to(self.head.weight.dtype))
        self.head.bias.copy_(bias.to(self.head.bias.dtype))
        self.fitted.fill_(True)
        solver = f"L-BFGS in {cfg.solver_dtype}, at most {cfg.max_iter} iterations per C"
        result = LinearProbeFit(best, accuracy, history, len(y_train), num_classes, solver, cfg.c is not None)
        self.runtime.records["linear_probe"] = result.as_record()
        return result

    def _search(self, evaluate) -> float:  # type: ignore[no-untyped-def]
        """CoOp's search: the grid, then bisection in log10(C) towards the better end of
        [best/10, best*10]. Returns the C with the best validation accuracy among all tried (the
        first tried wins ties)."""
        tried: list[tuple[float, float]] = []

        def score(c: float) -> float:
            accuracy = evaluate(c)
            tried.append((c, accuracy))
            return accuracy

        grid_scores = [score(c) for c in self.config.c_grid]
        peak = self.config.c_grid[max(range(len(grid_scores)), key=lambda i: (grid_scores[i], -i))]
        low, high = math.log10(peak) - 1.0, math.log10(peak) + 1.0
        for _ in range(self.config.search_steps):
            middle = 0.5 * (low + high)
            if score(10.0**low) < score(10.0**high):
                low = middle
            else:
                high = middle
        best_score = max(accuracy for _, accuracy in tried)
        return next(c for c, accuracy in tried if accuracy == best_score)

    def _check_labels(self, labels: torch.Tensor, split: str) -> None:
        if labels.numel() == 0:
            raise ValueError(f"the {split} split has no samples")
        if int(labels.min()) < 0 or int(labels.max()) >= len(self.classes):
            raise ValueError(f"{split} labels must lie in 0..{len(self.classes) - 1} (the method's classes)")

    # --- the engine's closed-form hook ---------------------------------------------------------
    @property
    def is_fitted(self) -> bool:
        return bool(self.fitted)

    def fit_closed_form(self, train_loader: Iterable[Any], val_loader: Iterable[Any] | None) -> str:
        return self.fit_from_loaders(train_loader, val_loader).summary()

    # --- features from loaders ------------------------------------------------------------------
    def fit_from_loaders(self, train_loader: Iterable, val_loader: Iterable | None = None) -> LinearProbeFit:
        """Frozen features of both splits (cached on disk when possible), then :meth:`fit`.

        Loaders yield ``(images, labels[, indices])``. Use the deterministic test transform for both,
        as CoOp's feature extractor does; features are cached only for deterministic transforms.
        """
        train = self.loader_features(train_loader, "train")
        val = self.loader_features(val_loader, "val") if val_loader is not None else (None, None)
        return self.fit(train[0], train[1], val[0], val[1])

    def loader_features(self, loader: Iterable, split: str) -> tuple[torch.Tensor, torch.Tensor]:
        """L2-normalised frozen image features ``[N, e]`` and labels ``[N]`` of a loader's images.

        When the loader's dataset lists its images (``dataset.data``: items with ``impath`` and
        ``label``), its transform is deterministic and a cache dir is set, the features are read from or
        written to the shared frozen-feature cache (keyed by backbone checksum, image list, transform).
        """
        cached = self._cached_features(loader, split)
        if cached is not None:
            return cached
        features, labels = [], []
        with torch.no_grad():
            for batch in loader:
                images = batch[0].to(self.device)
                features.append(self.backbone.encode_image(images, normalize=True).float().cpu())
                labels.append(torch.as_tensor(batch[1]).long().cpu())
        if not features:
            raise ValueError(f"the {split} loader yielded no images")
        return torch.cat(features), torch.cat(labels)

    def _cached_features(self, loader: Iterable, split: str) -> tuple[torch.Tensor, torch.Tensor] | None:
        if not self.config.cache_features or self.runtime.cache_dir is None:
            return None
        from hicropl.clip.image_cache import FrozenImageCache
        from hicropl.data.loader import cacheable_images

        dataset = getattr(loader, "dataset", None)
        images = cacheable_images(dataset)
        if images is None:
            self.runtime.records.setdefault("linear_probe_notes", []).append(f"{split}: features not cached")
            return None
        cache = FrozenImageCache(Path(self.runtime.cache_dir))
        features = cache.features(
            self.backbone,
            dataset=self.classes.dataset or "",
            split=split,
            image_paths=images.paths,
            transform=images.transform,
            loader=loader,
        )
        labels = torch.tensor([int(d.label) for d in dataset.data], dtype=torch.long)  # type: ignore[union-attr]
        return features, labels
