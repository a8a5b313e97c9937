"""The interface every method implements, and the registry that finds methods by name.

A method is an ``nn.Module`` that holds only its own (trainable or method-specific) state; the
frozen :class:`~hicropl.clip.CLIPBackbone` is referenced, never registered, so it never reaches the
optimiser, a checkpoint or a state dict. The engine drives every method the same way:

* ``method(images, labels)`` in training returns a :class:`MethodOutput` with the loss;
* ``with method.evaluating(): method(images)`` in evaluation, where class text features that do
  not depend on the image are computed once per evaluation instead of once per batch;
* ``method.set_classes(classes)`` switches the class set (base -> novel, another dataset);
* ``method.fit_closed_form(train_loader, val_loader)`` after training, for the methods that declare
  ``fits_in_closed_form`` (the linear probe) and are not yet fitted;
* ``method.state_averaging_weights(epochs)``: one weight per epoch, for the methods whose trained
  state is a weighted average of their state at the end of each epoch (PromptSRC).
* ``method(images, labels, second_view=views)`` in training for the methods that declare
  ``takes_second_view`` (CoPrompt): ``views`` is a second augmentation of the same images.

A method's config is a :class:`MethodConfig` subclass and the method is ``PromptMethod[ItsConfig]``,
so a type checker knows ``self.config``'s fields; every method keeps the base's ``forward`` signature.
"""

from __future__ import annotations

import contextlib
import dataclasses
import difflib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar

import torch
from torch import nn

from hicropl.clip.load import CLIPBackbone
from hicropl.errors import ConfigError
from hicropl.methods.random_draws import RandomDraws
from hicropl.typed_config import from_dict

if TYPE_CHECKING:
    from hicropl.data.transforms import TrainAugmentation


@dataclass(frozen=True)
class ClassSet:
    """The classes a method classifies, with what is needed to build their frozen text features."""

    names: tuple[str, ...]
    dataset: str | None = None
    description_file: str | None = None
    # Descriptions given directly ({class name: [sentence, ...]}) take precedence over the file.
    descriptions: Mapping[str, Sequence[str]] | None = field(default=None, compare=False, hash=False)

    def __post_init__(self) -> None:
        if not self.names:
            raise ValueError("a class set needs at least one class name")
        object.__setattr__(self, "names", tuple(self.names))

    def __len__(self) -> int:
        return len(self.names)


@dataclass
class MethodOutput:
    """What a forward pass returns: logits always, the loss and its terms when labels were given."""

    logits: torch.Tensor
    loss: torch.Tensor | None = None
    terms: dict[str, float] = field(default_factory=dict)


@dataclass
class MethodConfig:
    """Base class of every method's config dataclass."""

    def variant_name(self) -> str | None:
        """The variant this config selects, for methods that have several (HiCroPL: ``paper`` or
        ``official``); run folders and report rows name the method ``<method>-<variant>``."""
        return None


ConfigT = TypeVar("ConfigT", bound=MethodConfig)


@dataclass
class MethodRuntime:
    """Where a method may cache frozen features, and what it recorded about their provenance."""

    cache_dir: Path | None = None
    records: dict[str, Any] = field(default_factory=dict)


class PromptMethod(nn.Module, Generic[ConfigT]):
    """Base class: holds the backbone by reference and implements evaluation caching.

    ``ConfigT`` is the method's config class (``class ZeroShotCLIP(PromptMethod[ZeroShotConfig])``), so
    ``self.config`` is typed; ``config_class`` names the same class at run time, to build it from a mapping.
    """

    name: ClassVar[str] = ""
    config_class: ClassVar[type[MethodConfig]] = MethodConfig
    # Methods whose class text features depend on the image (CoCoOp) or whose forward mutates
    # state (HiCroPL "official") set this to False (per instance where it depends on the config).
    caches_class_features: bool = True
    # Methods that use the frozen (prompt-free) image features accept them precomputed through
    # ``forward(..., frozen_image=...)``; the evaluator then serves them from the on-disk cache.
    uses_frozen_image_features: ClassVar[bool] = False
    # Methods fitted in closed form on frozen features (the linear probe) rather than by the
    # optimiser implement ``is_fitted`` and ``fit_closed_form``; the engine calls them after training.
    fits_in_closed_form: ClassVar[bool] = False
    # Methods that train on a second, independently augmented view of each training image (CoPrompt's
    # frozen image target) set this; the engine then augments each training image twice with
    # ``train_augmentation`` and hands the second view as ``forward(..., second_view=...)``.
    takes_second_view: ClassVar[bool] = False
    # The training augmentation the method's authors use (see hicropl.data.transforms.build_transform).
    train_augmentation: ClassVar[TrainAugmentation] = "crop_flip"

    def __init__(
        self,
        config: ConfigT,
        backbone: CLIPBackbone,
        classes: ClassSet,
        runtime: MethodRuntime | None = None,
    ) -> None:
        super().__init__()
        self.config = config
        self._backbone = [backbone]
        self.runtime = runtime or MethodRuntime()
        self.classes = classes
        self._class_cache: torch.Tensor | None = None
        # Random choices the forward makes (CoPrompt's description index), seeded and replayable.
        self.random_draws = RandomDraws()

    @property
    def backbone(self) -> CLIPBackbone:
        return self._backbone[0]

    @property
    def device(self) -> torch.device:
        return self.backbone.device

    # --- to implement -------------------------------------------------------------------------
    def set_classes(self, classes: ClassSet) -> None:
        """Switch the class set; subclasses rebuild class-dependent buffers and call super()."""
        self.classes = classes
        self._class_cache = None

    def class_features(self) -> torch.Tensor:
        """Class text features ``[C, d]`` as used by the logits (method-specific)."""
        raise NotImplementedError

    def forward(
        self,
        images: torch.Tensor,
        labels: torch.Tensor | None = None,
        frozen_image: torch.Tensor | None = None,
        *,
        second_view: torch.Tensor | None = None,
    ) -> MethodOutput:
        """Logits of ``images`` ``[B, C]``, and the loss when ``labels`` are given.

        ``frozen_image``: the frozen (prompt-free) image features of ``images`` ``[B, e]``, precomputed;
        only methods with ``uses_frozen_image_features`` are handed them and use them, the others
        ignore the argument (their image features depend on their prompts).

        ``second_view``: a second, independently augmented view of each training image ``[B, 3, H, W]``;
        the engine serves it in training only, and only to methods with ``takes_second_view``; the
        others are never handed one and ignore the argument.
        """
        raise NotImplementedError

    if TYPE_CHECKING:
        # nn.Module types ``__call__`` as taking anything; this lets a type checker check calls too.
        def __call__(
            self,
            images: torch.Tensor,
            labels: torch.Tensor | None = None,
            frozen_image: torch.Tensor | None = None,
            *,
            second_view: torch.Tensor | None = None,
        ) -> MethodOutput: ...

    # --- closed-form fitting (methods with ``fits_in_closed_form`` only) -------------------------
    @property
    def is_fitted(self) -> bool:
        """Whether the closed-form fit has been done (restored from a checkpoint included)."""
        return False

    def fit_closed_form(self, train_loader: Iterable[Any], val_loader: Iterable[Any] | None) -> str:
        """Fit on the few-shot train split (choosing hyperparameters on val); returns a summary for the log.

        Loaders yield ``(images, labels[, indices])`` under the deterministic test transform.
        """
        raise NotImplementedError(f"{self.name} is trained by the optimiser, not fitted in closed form")

    # --- averaging the trainable state over epochs (engine/state_averaging.py) --------------------
    def state_averaging_weights(self, num_epochs: int) -> list[float] | None:
        """One weight per epoch when the trainer should train on as usual but end with the weighted
        sum of the trainable state at the end of each epoch (PromptSRC's GPA); None (the default) for
        the plain last-epoch state."""
        return None

    # --- shared behaviour -----------------------------------------------------------------------
    def cached_class_features(self) -> torch.Tensor:
        """``class_features()``, or the copy computed once for the current evaluation."""
        if self._class_cache is not None:
            return self._class_cache
        return self.class_features()

    @contextlib.contextmanager
    def evaluating(self) -> Iterator[None]:
        """Evaluation mode, no grad, and class features computed once for the whole evaluation."""
        was_training = self.training
        self.eval()
        try:
            with torch.no_grad():
                if self.caches_class_features:
                    self._class_cache = self.class_features()
                yield
        finally:
            self._class_cache = None
            self.train(was_training)

    def trainable_parameters(self) -> list[nn.Parameter]:
        """Parameters the optimiser updates, each once (aliased handles are distinct objects)."""
        seen: set[int] = set()
        params = []
        for param in self.parameters():
            if param.requires_grad and id(param) not in seen:
                seen.add(id(param))
                params.append(param)
        return params

    def num_trainable(self) -> int:
        return sum(p.numel() for p in self.trainable_parameters())

    def logit_scale(self) -> torch.Tensor:
        return self.backbone.logit_scale


_REGISTRY: dict[str, type[PromptMethod[Any]]] = {}
MethodClass = TypeVar("MethodClass", bound=type[PromptMethod[Any]])


def register_method(cls: MethodClass) -> MethodClass:
    """Class decorator: make ``cls`` available under ``cls.name``."""
    if not cls.name:
        raise ValueError(f"{cls.__name__} needs a non-empty `name`")
    if cls.name in _REGISTRY and _REGISTRY[cls.name] is not cls:
        raise ValueError(f"method name {cls.name!r} is already registered by {_REGISTRY[cls.name].__name__}")
    _REGISTRY[cls.name] = cls
    return cls


def _ensure_builtin_methods() -> None:
    import hicropl.methods  # noqa: F401  (importing registers the built-in methods)


def list_methods() -> list[str]:
    _ensure_builtin_methods()
    return sorted(_REGISTRY)


def get_method_class(name: str) -> type[PromptMethod[Any]]:
    _ensure_builtin_methods()
    key = name.strip().lower().replace("-", "_")
    if key in _REGISTRY:
        return _REGISTRY[key]
    close = difflib.get_close_matches(key, list(_REGISTRY), n=3, cutoff=0.5)
    hint = f" Did you mean: {', '.join(close)}?" if close else ""
    raise ConfigError(f"Unknown method {name!r}.{hint} Available: {', '.join(sorted(_REGISTRY))}")


def build_config(name: str, data: Mapping[str, Any] | MethodConfig | None = None) -> MethodConfig:
    cls = get_method_class(name)
    if isinstance(data, MethodConfig):
        if not isinstance(data, cls.config_class):
            raise ConfigError(
                f"method {cls.name!r} takes a {cls.config_class.__name__}, got a {type(data).__name__}; "
                f"build it with the method it belongs to, or give {cls.name!r} a mapping of its fields"
            )
        return data
    return from_dict(cls.config_class, data or {})


def build_method(
    name: str,
    backbone: CLIPBackbone,
    classes: ClassSet | Sequence[str],
    config: Mapping[str, Any] | MethodConfig | None = None,
    runtime: MethodRuntime | None = None,
) -> PromptMethod[Any]:
    """Build a registered method on ``backbone`` for ``classes``."""
    cls = get_method_class(name)
    cfg = build_config(name, config)
    if not isinstance(classes, ClassSet):
        classes = ClassSet(tuple(classes))
    method = cls(cfg, backbone, classes, runtime)
    return method.to(backbone.device)


def config_fields(cls: type[MethodConfig]) -> list[str]:
    return [f.name for f in dataclasses.fields(cls)]
