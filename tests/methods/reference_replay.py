"""Replays a golden trace of a method's authors' code through this library's public API.

A trace directory holds ``manifest.json`` (or, in the reference-traces layout, ``<method>/manifest.json``)
and ``<config>/trace.pt``. Everything a replay needs comes from the manifest: the authors' settings
(translated by :mod:`hicropl.methods.authors_config`), the class names, the optimizer and the call
sequence. The initial state (``state.*``, the authors' names) is loaded through
:mod:`hicropl.methods.authors_names`; then each call is replayed and its logits, loss and loss terms,
every gradient, every parameter after the step and the optimizer state are compared. Each call starts
from the parameters the trace recorded after the previous one (already compared), as the traces'
READMEs suggest, so that float32 round-off cannot compound over the calls: the baselines replay bit
for bit either way, HiCroPL's trace carries a ~1e-6 offset in its plain CLIP features that the
compounded run would amplify.

Tolerances: 1e-5 absolute or relative per element for values; gradients 2e-5 of the tensor's largest
entry (near-zero entries of a gradient carry the round-off of sums over much larger terms).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import torch

from hicropl import load_clip
from hicropl.errors import ConfigError
from hicropl.methods import ClassSet, PromptMethod, build_method, get_method_class
from hicropl.methods.authors_config import TRAINER_SECTION, config_from_authors
from hicropl.methods.authors_names import StateNames, state_names

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
REFERENCE_TRACES = FIXTURES / "reference_traces"
OFFICIAL_HICROPL_TRACE = FIXTURES / "official_hicropl_trace"
# The tiny CLIP every trace runs on is stored once, with the HiCroPL trace; traces name it by sha256.
SHIPPED_TINY_CLIPS = (OFFICIAL_HICROPL_TRACE / "tiny_clip_state_dict.pt",)

VALUE_TOL = 1e-5
GRAD_TOL = 2e-5
TRAINABLE_LISTS = (
    "parameters_requiring_grad_in_optimizer_order",
    "parameters_in_optimizer_order",
    "trainable_parameters",
    "parameters_requiring_grad_in_model_order",
    "trainable_parameters_in_optimizer_order",
)
# Lists whose order this library's parameter order must match. CoPrompt's authors hand SGD their whole
# CustomCLIP (MaPLe's prompt learner interleaves ctx, proj, deep prompts, deep projections), where this
# library keeps MaPLe's two lists (prompts, couplings); SGD updates each tensor on its own, so only the
# set is compared there.
ORDERED_TRAINABLE_LISTS = ("parameters_requiring_grad_in_optimizer_order", "parameters_in_optimizer_order")


@dataclass(frozen=True)
class TraceConfig:
    """One configuration of one trace directory; ``manifest_dir`` holds its manifest.json."""

    method: str
    manifest_dir: Path
    name: str

    @property
    def id(self) -> str:
        return f"{self.method}/{self.name}"


def reference_trace_configs(root: Path) -> list[TraceConfig]:
    """Every configuration under ``root`` laid out as ``<method>/manifest.json``."""
    manifests = sorted(root.glob("*/manifest.json"))
    if not manifests:
        raise FileNotFoundError(f"{root} holds no <method>/manifest.json")
    configs = []
    for manifest in manifests:
        data = json.loads(manifest.read_text())
        method = data.get("method", manifest.parent.name)
        configs += [TraceConfig(method, manifest.parent, name) for name in data["configs"]]
    return configs


def official_trace_configs(directory: Path) -> list[TraceConfig]:
    """Every configuration of a HiCroPL trace laid out as ``manifest.json`` + ``<config>/trace.pt``."""
    data = json.loads((directory / "manifest.json").read_text())
    return [TraceConfig("hicropl", directory, name) for name in data["configs"]]


def missing_method_reason(method: str) -> str | None:
    """Why a trace cannot be replayed (the library has no such method yet), or None."""
    try:
        get_method_class(method)
    except ConfigError:
        return f"this library has no {method!r} method yet, so its authors' trace cannot be replayed"
    return None


# --- comparisons --------------------------------------------------------------------------------
@dataclass
class Deviations:
    """The largest deviation seen per kind: absolute for values, relative to the largest entry for gradients."""

    worst: dict[str, tuple[float, str]] = field(default_factory=dict)

    def note(self, kind: str, value: float, where: str) -> None:
        if value > self.worst.get(kind, (-1.0, ""))[0]:
            self.worst[kind] = (value, where)

    def values(self, kind: str, actual: torch.Tensor | float, expected: torch.Tensor, what: str) -> None:
        actual = torch.as_tensor(actual).detach().float().cpu()
        expected = expected.float()
        assert actual.shape == expected.shape, f"{what}: shape {tuple(actual.shape)} != {tuple(expected.shape)}"
        diff = (actual - expected).abs()
        self.note(kind, diff.max().item() if diff.numel() else 0.0, what)
        ok = (diff <= VALUE_TOL) | (diff <= VALUE_TOL * expected.abs())
        assert bool(ok.all()), f"{what}: max abs diff {diff.max().item():.3g} (tolerance {VALUE_TOL} abs or rel)"

    def gradient(self, actual: torch.Tensor | None, expected: torch.Tensor, what: str, kind: str = "grad") -> None:
        """Gradients and what accumulates them (momentum, Adam moments): relative to the largest entry."""
        assert actual is not None, f"{what}: no gradient reached this parameter"
        actual, expected = actual.detach().float().cpu(), expected.float()
        assert actual.shape == expected.shape, f"{what}: shape {tuple(actual.shape)} != {tuple(expected.shape)}"
        scale = expected.abs().max().clamp_min(1e-12)
        error = ((actual - expected).abs().max() / scale).item() if expected.numel() else 0.0
        self.note(kind, error, what)
        assert error <= GRAD_TOL, f"{what}: max error {error:.3g} of the tensor's largest entry (tolerance {GRAD_TOL})"


# --- inputs -------------------------------------------------------------------------------------
def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@lru_cache(maxsize=8)
def _cached_sha256(path: Path) -> str:
    return file_sha256(path)


def tiny_clip_file(manifest: dict[str, Any], manifest_dir: Path) -> Path:
    """The manifest's tiny CLIP: by its sha256 among the shipped copies (traces do not carry it)."""
    tiny = manifest["tiny_clip"]
    named = manifest_dir / tiny["file"].split(" ")[0]
    if "sha256" not in tiny:  # the HiCroPL layout ships its CLIP next to the manifest
        return named
    candidates = [*SHIPPED_TINY_CLIPS, named]
    for path in candidates:
        if path.is_file() and _cached_sha256(path.resolve()) == tiny["sha256"]:
            return path
    raise FileNotFoundError(f"no tiny CLIP with sha256 {tiny['sha256']} among {[str(p) for p in candidates]}")


def _model_config(tiny: dict[str, Any]) -> dict[str, Any]:
    return {
        "embed_dim": tiny["embed_dim"],
        "vision_cfg": {
            "image_size": tiny["image_resolution"],
            "layers": tiny["vision_layers"],
            "width": tiny["vision_width"],
            "patch_size": tiny["vision_patch_size"],
            "head_width": tiny["vision_width"] // tiny["vision_heads"],
        },
        "text_cfg": {
            "context_length": tiny["context_length"],
            "vocab_size": tiny["vocab_size"],
            "width": tiny["transformer_width"],
            "heads": tiny["transformer_heads"],
            "layers": tiny["transformer_layers"],
        },
    }


def _flatten(node: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in node.items():
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def authors_cfg(method: str, spec: dict[str, Any]) -> dict[str, Any]:
    """The authors' settings of a configuration as flat yacs keys (``TRAINER.COOP.N_CTX``, ``DATASET.NAME``)."""
    flat = _flatten(spec.get("cfg_seen_by_the_trainer", {}))
    section = TRAINER_SECTION[method]
    for key, value in spec.get("hyperparameters", {}).items():
        if "." in key:
            flat[key] = value
        elif key == "DATASET":
            flat["DATASET.NAME"] = value
        else:
            flat[f"TRAINER.{section}.{key}"] = value
    return flat


@contextmanager
def torch_threads(count: int) -> Iterator[None]:
    """The thread count the trace was recorded with: it fixes the reduction order of matmuls."""
    before = torch.get_num_threads()
    torch.set_num_threads(int(count))
    try:
        yield
    finally:
        torch.set_num_threads(before)


# --- the replay ---------------------------------------------------------------------------------
@dataclass
class Replay:
    """A method built for one trace configuration, its initial state loaded from the trace."""

    config: TraceConfig
    manifest: dict[str, Any]
    spec: dict[str, Any]
    trace: dict[str, torch.Tensor]
    method: PromptMethod
    names: StateNames
    deviations: Deviations = field(default_factory=Deviations)

    def param(self, authors_name: str) -> torch.nn.Parameter:
        return dict(self.method.named_parameters(remove_duplicate=False))[self.names.ours_for(authors_name)]

    def recorded(self, prefix: str) -> Iterator[tuple[str, str, torch.Tensor]]:
        """``(trace key, authors' tensor name, value)`` of the entries under ``prefix``. Zero-element
        tensors (prompts of 0 tokens, which the authors build and this library does not) are skipped."""
        for key, value in self.trace.items():
            if key.startswith(prefix) and value.numel():
                yield key, key[len(prefix) :], value


def build_replay(config: TraceConfig, reference_order: bool = True) -> Replay:
    """The method for ``config`` on the tiny CLIP, with the authors' initial state and checks of every
    input that follows from the tiny CLIP and the tokenizer alone."""
    manifest = json.loads((config.manifest_dir / "manifest.json").read_text())
    spec = manifest["configs"][config.name]
    trace = torch.load(config.manifest_dir / spec["file"], map_location="cpu", weights_only=True)
    tiny_file = tiny_clip_file(manifest, config.manifest_dir)
    backbone = load_clip(tiny_file, model_config=_model_config(manifest["tiny_clip"]))
    backbone.reference_order = reference_order
    cfg = authors_cfg(config.method, spec)
    descriptions = manifest.get("descriptions")
    classes = ClassSet(
        tuple(manifest["class_names"]),
        dataset=cfg.get("DATASET.NAME"),
        descriptions=descriptions if isinstance(descriptions, dict) else None,
    )
    torch.manual_seed(0)  # every random draw is overwritten by the trace's state
    method = build_method(config.method, backbone, classes, config_from_authors(config.method, cfg))
    replay = Replay(config, manifest, spec, trace, method, state_names(config.method))
    assert torch.equal(method.tokenized_prompts.cpu(), trace["tokenized_prompts"]), "tokenized_prompts"
    _load_authors_state(replay, torch.load(tiny_file, map_location="cpu", weights_only=True))
    return replay


def _load_authors_state(replay: Replay, tiny_state: dict[str, torch.Tensor]) -> None:
    method, names = replay.method, replay.names
    ours = method.state_dict()
    loaded: dict[str, torch.Tensor] = {}
    embedded = method.backbone.text_encoder.token_embeddings(method.tokenized_prompts).detach().cpu()
    for key, value in replay.trace.items():
        if not key.startswith("state."):
            continue
        authors = key[len("state.") :]
        kind, target = names.classify(authors)
        if kind == "ours" and value.numel() == 0:
            continue  # zero-token prompts (IVLP with N_CTX_VISION 0): nothing to learn, none built here
        if kind == "ours":
            assert target in ours, f"{authors} maps to {target}, which {replay.config.method} does not have"
            assert ours[target].shape == value.shape, (
                f"{authors}: shape {tuple(value.shape)} != {tuple(ours[target].shape)}"
            )
            loaded[target] = value
        elif kind == "frozen":
            assert target is not None and torch.equal(value, tiny_state[target].float()), f"{authors} != CLIP {target}"
        elif kind == "rebuilt":  # token_prefix (SOS) / token_suffix: the tail of the prompts' embeddings
            part = embedded[:, :1] if authors.endswith("prefix") else embedded[:, embedded.shape[1] - value.shape[1] :]
            assert torch.equal(part, value), f"{authors} differs from the embeddings of our class prompts"
    missing = sorted(set(ours) - set(loaded))
    assert not missing, f"the trace does not set {missing[:5]}"
    replay.method.load_state_dict(loaded)


def build_optimizer(replay: Replay) -> torch.optim.Optimizer:
    """The optimizer the manifest names, over the method's trainable parameters."""
    spec = replay.manifest["optimizer"]
    lr = (
        spec["lr"]
        if isinstance(spec["lr"], (int, float))
        else authors_cfg(replay.config.method, replay.spec)["OPTIM.LR"]
    )
    params = replay.method.trainable_parameters()
    if "Adam" in spec["class"]:
        betas = tuple(spec["betas"])
        return torch.optim.Adam(
            params, lr=lr, betas=betas, eps=spec["eps"], weight_decay=spec["weight_decay"], foreach=False
        )
    assert "SGD" in spec["class"], f"optimizer {spec['class']} is not replayed"
    return torch.optim.SGD(
        params,
        lr=lr,
        momentum=spec["momentum"],
        weight_decay=spec["weight_decay"],
        dampening=spec["dampening"],
        nesterov=spec["nesterov"],
        foreach=False,
    )


def check_trainable(replay: Replay) -> None:
    """The method trains exactly the authors' trainable tensors (in their order where the trace gives it)."""
    key = next(k for k in TRAINABLE_LISTS if k in replay.spec)
    empty = {k[len("state.") :] for k, v in replay.trace.items() if k.startswith("state.") and not v.numel()}
    expected = [replay.names.ours_for(name) for name in replay.spec[key] if name not in empty]
    names: dict[int, str] = {}
    for name, param in replay.method.named_parameters(remove_duplicate=False):
        names.setdefault(id(param), name)
    actual = [names[id(p)] for p in replay.method.trainable_parameters()]
    if key in ORDERED_TRAINABLE_LISTS:
        assert actual == expected, f"trainable {actual} != the authors' {expected}"
    else:
        assert sorted(actual) == sorted(expected), f"trainable {sorted(actual)} != the authors' {sorted(expected)}"


CallHook = Callable[[Replay, str, Any], None]


@torch.no_grad()
def restart_from(replay: Replay, tag: str) -> None:
    """Set every parameter the trace recorded after call ``tag`` to the authors' value (already compared),
    so that float32 round-off cannot compound over the calls; the optimizer state stays ours."""
    for _, name, value in replay.recorded(f"{tag}.params_after."):
        replay.param(name).copy_(value)


def run_calls(replay: Replay, optimizer: torch.optim.Optimizer, after_call: CallHook | None = None) -> None:
    """Replay the manifest's call sequence and compare every recorded output, gradient and state."""
    trace, deviations, method = replay.trace, replay.deviations, replay.method
    previous = None
    for call in replay.spec["calls"]:
        tag = call["tag"]
        if previous is not None:
            restart_from(replay, previous)
        previous = tag
        if call["mode"] == "eval":
            with method.evaluating():
                out = method(trace[call["batch"]])
            if after_call:
                after_call(replay, tag, out)
            deviations.values("logits", out.logits, trace[f"{tag}.logits"], f"{tag}.logits")
            continue
        method.train()
        # The authors' random draws of this call (``<tag>.random.<name>``) are replayed, not redrawn.
        recorded_draws = {name: int(value) for _, name, value in replay.recorded(f"{tag}.random.")}
        for name, value in recorded_draws.items():
            method.random_draws.replay(name, value)
        second_view = trace[call["second_view"]] if "second_view" in call else None
        out = method(trace[call["batch"]], trace[call["labels"]], second_view=second_view)
        assert not method.random_draws.pending(), f"{tag}: recorded draws never drawn {method.random_draws.pending()}"
        for name, value in recorded_draws.items():
            assert method.random_draws.last.get(name) == value, f"{tag}.random.{name}: the method drew no {name!r}"
        if after_call:
            after_call(replay, tag, out)
        optimizer.zero_grad(set_to_none=True)
        out.loss.backward()
        for key, name, value in replay.recorded(f"{tag}.grad."):
            deviations.gradient(replay.param(name).grad, value, key)
        optimizer.step()
        deviations.values("loss", out.loss, trace[f"{tag}.loss"], f"{tag}.loss")
        if f"{tag}.logits" in trace:
            deviations.values("logits", out.logits, trace[f"{tag}.logits"], f"{tag}.logits")
        for key, term, value in replay.recorded(f"{tag}.terms."):
            assert term in out.terms, f"{key}: the method reports no {term!r} term ({sorted(out.terms)})"
            deviations.values("loss", out.terms[term], value, key)
        for key, name, value in replay.recorded(f"{tag}.params_after."):
            deviations.values("params", replay.param(name), value, key)
        for key, name, value in replay.recorded(f"{tag}.momentum_buffer."):
            deviations.gradient(optimizer.state[replay.param(name)]["momentum_buffer"], value, key, "optimizer state")
    for key, entry, value in replay.recorded("optimizer_state."):
        name, _, slot = entry.rpartition(".")
        state = optimizer.state[replay.param(name)][slot]
        if slot == "step":
            deviations.values("optimizer state", state, value, key)
        else:
            deviations.gradient(state, value, key, "optimizer state")
