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
compounded run would amplify. An evaluation the manifest marks as served from a stale class-feature
cache (``"text_features_cache": "reused (stale)"``, the authors' MMA) is not compared: this library
computes class features per evaluation, and the trace's call with the cache reset is compared instead.

Traces whose calls end epochs of an averaged state (``gpa_epoch_weight`` on a call: PromptSRC's GPA)
also drive the engine's averaging of the trainable state (:mod:`hicropl.engine.state_averaging`, the
code the trainer runs): the method's per-epoch weights against ``gpa.weights``, the running sum after
each such call against ``<tag>.gpa_accumulator.*``, and, once the last epoch's weight is in (the
manifest's ``gpa_model_loaded``), the loaded average against ``gpa_loaded.*``; later calls run on it.
The authors average their frozen CLIP weights too (back to themselves up to float32 rounding; the
library averages only the trainable state): the first evaluation after the load compares the library's
own model with the trace's prompts-only diagnostic where it has one, then gives the replay's backbone
the authors' rounding (:meth:`StateAveraging.round_frozen_weights_as_the_authors`) for the call itself.

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
from hicropl.engine.state_averaging import add_weighted_state, load_trainable_state, trainable_state
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
        elif kind == "rebuilt" and not value.is_floating_point():  # the class prompts' token ids
            assert torch.equal(method.tokenized_prompts.cpu(), value), f"{authors} differs from our class prompts"
        elif kind == "rebuilt":  # token_prefix (SOS) / token_suffix / all: the tail of the prompts' embeddings
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
EPOCH_WEIGHT = "gpa_epoch_weight"  # on a call that ends an epoch of the averaged state


@dataclass
class StateAveraging:
    """The engine's averaging of the trainable state, fed the epochs the manifest's calls end."""

    weights: list[float]
    total: dict[str, torch.Tensor] | None = None
    epochs_done: int = 0
    frozen_rounding_pending: bool = False  # the authors' rounding of their frozen weights is still to apply

    def end_epoch(self, replay: Replay, call: dict[str, Any]) -> None:
        tag, deviations = call["tag"], replay.deviations
        assert self.epochs_done < len(self.weights), f"{tag}: more averaged epochs than the method's weights"
        weight = self.weights[self.epochs_done]
        deviations.values("state averaging", weight, torch.tensor(call[EPOCH_WEIGHT]), f"{tag}.{EPOCH_WEIGHT}")
        self.total = add_weighted_state(self.total, trainable_state(replay.method), weight)
        self.epochs_done += 1
        for key, name, value in replay.recorded(f"{tag}.gpa_accumulator."):
            deviations.values("state averaging", self.total[replay.names.ours_for(name)], value, key)
        complete = self.epochs_done == len(self.weights)
        assert complete == bool(call.get("gpa_model_loaded", complete)), (
            f"{tag}: the authors load the average {'' if call.get('gpa_model_loaded') else 'not '}here, "
            f"after {self.epochs_done} of {len(self.weights)} epochs"
        )
        if not complete:
            return
        load_trainable_state(replay.method, self.total)
        for key, name, value in replay.recorded("gpa_loaded."):
            if replay.names.classify(name)[0] == "ours":
                deviations.values("state averaging", replay.param(name), value, key)
        frozen_change = replay.spec.get("consistency_checks", {}).get(
            "frozen_weights_max_abs_change_after_gpa_load_by_module"
        )
        self.frozen_rounding_pending = frozen_change is not None

    def before_evaluating(self, replay: Replay, call: dict[str, Any]) -> None:
        """At the first evaluation after the load: the library's own model (trainable state averaged,
        frozen CLIP untouched) against the trace's prompts-only diagnostic of that call where it has one,
        then the authors' rounding of the frozen weights for the call itself."""
        if not self.frozen_rounding_pending:
            return
        key = f"diagnostic.{call['tag']}_prompts_only_gpa.logits"
        if key in replay.trace:
            with replay.method.evaluating():
                logits = replay.method(replay.trace[call["batch"]]).logits
            replay.deviations.values("logits", logits, replay.trace[key], key)
        self.round_frozen_weights_as_the_authors(replay)
        self.frozen_rounding_pending = False

    def round_frozen_weights_as_the_authors(self, replay: Replay) -> None:
        """The authors average their whole state dict, frozen CLIP included: since the weights sum to 1
        the frozen tensors come back as ``sum_e w_e * W`` in float32, W up to rounding (the manifest's
        ``frozen_weights_max_abs_change_after_gpa_load_by_module``). This library averages the trainable
        state only and never touches the frozen backbone; the replay's own backbone gets the authors'
        rounding here (with the engine's arithmetic), so that the calls after the load compare at the
        tolerance, not at the rounding's effect (up to 1.8e-5 on the PromptSRC traces' logits)."""
        backbone = replay.method.backbone
        frozen = {name: value for name, value in backbone.state_dict().items() if value.is_floating_point()}
        total = None
        for weight in self.weights:
            total = add_weighted_state(total, frozen, weight)
        assert total is not None
        with torch.no_grad():
            for name, value in frozen.items():
                value.copy_(total[name])


def state_averaging(replay: Replay) -> StateAveraging | None:
    """The averaging the trace's calls drive, with the method's weights for the authors' epoch count."""
    if not any(EPOCH_WEIGHT in call for call in replay.spec["calls"]):
        return None
    epochs = int(authors_cfg(replay.config.method, replay.spec)["OPTIM.MAX_EPOCH"])
    weights = replay.method.state_averaging_weights(epochs)
    assert weights is not None, f"the trace averages the state over epochs; {replay.method.name} does not ask for it"
    if "gpa.weights" in replay.trace:
        expected = replay.trace["gpa.weights"]
        replay.deviations.values(
            "state averaging", torch.tensor(weights, dtype=expected.dtype), expected, "gpa.weights"
        )
    return StateAveraging(list(weights))


# A trace's eval call whose text features came from a cache filled by an earlier evaluation (the
# authors' MMA never refreshes it); this library computes class features per evaluation.
STALE_CACHE = "reused (stale)"


def reuses_stale_class_features(call: dict[str, Any]) -> bool:
    return call.get("mode") == "eval" and call.get("text_features_cache") == STALE_CACHE


@torch.no_grad()
def restart_from(replay: Replay, tag: str) -> None:
    """Set every parameter the trace recorded after call ``tag`` to the authors' value (already compared),
    so that float32 round-off cannot compound over the calls; the optimizer state stays ours."""
    for _, name, value in replay.recorded(f"{tag}.params_after."):
        replay.param(name).copy_(value)


def run_calls(replay: Replay, optimizer: torch.optim.Optimizer, after_call: CallHook | None = None) -> None:
    """Replay the manifest's call sequence and compare every recorded output, gradient and state."""
    trace, deviations, method = replay.trace, replay.deviations, replay.method
    averaging = state_averaging(replay)
    calls = replay.spec["calls"]
    for position, call in enumerate(calls):
        tag = call["tag"]
        if reuses_stale_class_features(call):
            # Evaluation computes the class features afresh (PromptMethod.evaluating): the trace's call
            # with the cache reset is the one to match, and it must be there.
            assert any(
                later["batch"] == call["batch"] and later.get("harness_reset_cache_before")
                for later in calls[position:]
            ), f"{tag}: the authors' stale class-feature cache and no fresh call to compare against"
            continue
        if call["mode"] == "eval":
            if averaging is not None:
                averaging.before_evaluating(replay, call)
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
        restart_from(replay, tag)
        if averaging is not None and EPOCH_WEIGHT in call:
            averaging.end_epoch(replay, call)
    for key, entry, value in replay.recorded("optimizer_state."):
        name, _, slot = entry.rpartition(".")
        state = optimizer.state[replay.param(name)][slot]
        if slot == "step":
            deviations.values("optimizer state", state, value, key)
        else:
            deviations.gradient(state, value, key, "optimizer state")
