"""Every method against golden traces of its authors' code: one replay (tests/methods/reference_replay.py).

Replayed, each configuration of: ``tests/fixtures/reference_traces/<method>/`` (CoOp, CoCoOp, KgCoOp,
IVLP, MaPLe, PromptSRC, MMA, TCP, CoPrompt; copies of the project's shared fixtures, see their READMEs),
``tests/fixtures/official_hicropl_trace/`` (HiCroPL ``official``), every directory listed in
``HICROPL_EXTRA_REFERENCE_TRACES`` (colon-separated, laid out like ``reference_traces``) and in
``HICROPL_EXTRA_TRACES`` (laid out like ``official_hicropl_trace``). Everything comes from the manifests,
so configurations not seen here replay too; a trace of a method this library does not have yet is
skipped with the reason. The replay runs in the authors' operation order (``backbone.reference_order``);
the fast paths are checked against that order on every configuration's first calls.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
import torch

from tests.methods.reference_replay import (
    OFFICIAL_HICROPL_TRACE,
    REFERENCE_TRACES,
    SHIPPED_TINY_CLIPS,
    Deviations,
    Replay,
    TraceConfig,
    build_optimizer,
    build_replay,
    check_trainable,
    file_sha256,
    missing_method_reason,
    official_trace_configs,
    reference_trace_configs,
    run_calls,
    torch_threads,
)

SHIPPED_METHODS = {"coop", "cocoop", "kgcoop", "ivlp", "maple", "promptsrc", "mma", "tcp", "coprompt"}


def _extra(variable: str) -> list[Path]:
    return [Path(item) for item in os.environ.get(variable, "").split(":") if item.strip()]


def _configs() -> list[TraceConfig]:
    # The shipped fixtures always: a missing fixture must fail, not skip.
    configs = reference_trace_configs(REFERENCE_TRACES) + official_trace_configs(OFFICIAL_HICROPL_TRACE)
    for directory in _extra("HICROPL_EXTRA_REFERENCE_TRACES"):
        configs += reference_trace_configs(directory)
    for directory in _extra("HICROPL_EXTRA_TRACES"):
        configs += official_trace_configs(directory)
    return configs


CONFIGS = _configs()


def _id(config: TraceConfig) -> str:
    shipped = config.manifest_dir.parent == REFERENCE_TRACES or config.manifest_dir == OFFICIAL_HICROPL_TRACE
    return config.id if shipped else f"{config.manifest_dir}:{config.name}"


# --- what some traces record beyond the common scheme -------------------------------------------
class HiCroPLRecorder:
    """Forward hooks on the modules the HiCroPL trace hooked, keyed like its ``hook.*`` entries."""

    def __init__(self, method) -> None:
        self.values: dict[str, torch.Tensor] = {}
        self.images: list[torch.Tensor] = []
        learner = method.prompt_learner
        named = {"mapper_text2visual": learner.text2visual_net, "mapper_visual2text": learner.visual2text_net}
        named |= {f"lkp_text.{i}": m for i, m in enumerate(learner.attn_pooling_text_nets)}
        named |= {f"lkp_visual.{i}": m for i, m in enumerate(learner.attn_pooling_visual_nets)}
        named["text_features"] = method.backbone.text_encoder
        for key, module in named.items():
            module.register_forward_hook(self._store(key))
        method.backbone.image_encoder.register_forward_hook(lambda _m, _i, out: self.images.append(out.detach()))

    def _store(self, key: str):
        def hook(_module, _inputs, output):
            self.values[key] = output.detach().clone()

        return hook

    def check(self, replay: Replay, tag: str, _out) -> None:
        values = dict(self.values)
        if self.images:
            # The frozen teacher runs before the prompted tower, as in the authors' forward.
            values["zs_image_features"], values["image_features"] = self.images[0], self.images[-1]
        self.values, self.images = {}, []
        for key, name, value in replay.recorded(f"{tag}.hook."):
            if name in values:
                replay.deviations.values("hooks", values[name], value, key)


def _replay_trace(replay: Replay) -> None:
    method, trace, spec = replay.method, replay.trace, replay.spec
    check_trainable(replay)
    hook = None
    if replay.config.method in ("kgcoop", "tcp"):
        # The hand-crafted prompts of the knowledge term and their frozen features (kgcoop.py:136-146,
        # tcp.py:159-166).
        template = method.runtime.records["kg_template"]
        assert template == spec.get("frozen_text_template", template)
        if "frozen_text_tokens" in trace:
            prompts = [template.format(name.replace("_", " ")) for name in method.classes.names]
            assert torch.equal(method.backbone.tokenize(prompts).cpu(), trace["frozen_text_tokens"])
        if "frozen_text_features" in trace:
            features = trace["frozen_text_features"]
            replay.deviations.values("frozen text", method.clip_text, features, "frozen_text_features")
    if replay.config.method == "promptsrc":
        # The frozen text: the mean of the raw features of the authors' 60 templates, normalised.
        from hicropl.methods.promptsrc import promptsrc_templates

        assert list(promptsrc_templates()) == spec.get("templates", list(promptsrc_templates()))
        if "frozen_text.fixed_embeddings_normalized" in trace:
            expected = trace["frozen_text.fixed_embeddings_normalized"]
            replay.deviations.values(
                "frozen text", method.frozen_text(), expected, "frozen_text.fixed_embeddings_normalized"
            )
    if "frozen.ori_embedding" in trace:
        # CoPrompt's frozen CLIP embeddings of the LLM descriptions (coprompt.py:375-401).
        replay.deviations.values(
            "frozen text", method.description_embeddings(), trace["frozen.ori_embedding"], "frozen.ori_embedding"
        )
    if replay.config.method == "hicropl":
        if "fixed_embeddings" in trace:
            replay.deviations.values(
                "frozen text", method.frozen_text.mean, trace["fixed_embeddings"], "fixed_embeddings"
            )
        hook = HiCroPLRecorder(method).check
    run_calls(replay, build_optimizer(replay), hook)
    if replay.config.method == "hicropl":
        # The mappers, LKPs and proxies never learn in the authors' code, and evaluation mutates the prompts.
        named = dict(method.named_parameters(remove_duplicate=False))
        for name in spec.get("parameters_that_never_received_a_gradient", ()):
            assert named[name].grad is None, name
        assert spec.get("eval_after1_vs_eval_after2_logits_max_abs_diff", 1.0) > 0


def replay_config(config: TraceConfig) -> Deviations:
    manifest = json.loads((config.manifest_dir / "manifest.json").read_text())
    with torch_threads(manifest.get("environment", {}).get("torch_num_threads", 1)):
        replay = build_replay(config)
        _replay_trace(replay)
    return replay.deviations


@pytest.mark.parametrize("config", CONFIGS, ids=_id)
def test_method_reproduces_its_authors_trace(config: TraceConfig) -> None:
    reason = missing_method_reason(config.method)
    if reason:
        pytest.skip(reason)
    replay_config(config)


# --- the replay catches a changed number --------------------------------------------------------
@pytest.mark.parametrize(
    ("method", "name", "key"),
    [
        *[
            ("coop", "random_end_m16", key)
            for key in (
                "eval0.logits",
                "train1.loss",
                "train1.terms.ce",
                "train2.grad.prompt_learner.ctx",
                "train0.params_after.prompt_learner.ctx",
            )
        ],
        ("tcp", "random_m4_inject2_eurosat", "train1.terms.kg"),
        ("tcp", "random_m4_inject2_eurosat", "train2.grad.prompt_learner.meta_net.linear2.weight"),
        ("tcp", "random_m4_inject3_imagenet", "eval_after.logits"),
        ("tcp", "random_m4_inject3_imagenet", "optimizer_state.prompt_learner.meta_net.linear1.bias.exp_avg"),
    ],
)
def test_a_changed_trace_value_is_reported(tmp_path: Path, method: str, name: str, key: str) -> None:
    target = tmp_path / method
    shutil.copytree(REFERENCE_TRACES / method, target)
    copy = TraceConfig(method, target, name)
    replay_config(copy)  # the unchanged copy replays
    file = target / name / "trace.pt"
    trace = torch.load(file, weights_only=True)
    flat = trace[key].reshape(-1)
    index = flat.abs().argmax()
    flat[index] = flat[index] * (1 + 1e-3) + 1e-3  # far beyond round-off, small against the value
    torch.save(trace, file)
    with pytest.raises(AssertionError, match=key.replace(".", r"\.")):
        replay_config(copy)


@pytest.mark.parametrize(
    "key",
    [
        "gpa.weights",
        "frozen_text.fixed_embeddings_normalized",
        "train1.terms.scl_logits",
        "train1.gpa_accumulator.image_encoder.VPT",
        "gpa_loaded.text_encoder.transformer.resblocks.1.VPT_shallow",
        "eval_after.logits",
        "diagnostic.eval_after_prompts_only_gpa.logits",
    ],
)
def test_a_changed_averaging_or_regulariser_value_is_reported(tmp_path: Path, key: str) -> None:
    target = tmp_path / "promptsrc"
    shutil.copytree(REFERENCE_TRACES / "promptsrc", target)
    copy = TraceConfig("promptsrc", target, "t4_v4_depth3_gpa3")
    file = target / "t4_v4_depth3_gpa3" / "trace.pt"
    trace = torch.load(file, weights_only=True)
    flat = trace[key].reshape(-1)
    index = flat.abs().argmax()
    flat[index] = flat[index] * (1 + 1e-3) + 1e-3
    torch.save(trace, file)
    with pytest.raises(AssertionError, match=key.replace(".", r"\.")):
        replay_config(copy)


# --- the shipped fixtures -----------------------------------------------------------------------
def test_shipped_traces_are_the_authors_files_and_share_one_tiny_clip() -> None:
    assert {p.name for p in REFERENCE_TRACES.iterdir() if p.is_dir()} == SHIPPED_METHODS
    for method in SHIPPED_METHODS:
        manifest = json.loads((REFERENCE_TRACES / method / "manifest.json").read_text())
        for name, entry in manifest["files"].items():
            assert file_sha256(REFERENCE_TRACES / method / name) == entry["sha256"], f"{method}/{name}"
        assert manifest["tiny_clip"]["sha256"] == file_sha256(SHIPPED_TINY_CLIPS[0])
    assert not [p for p in REFERENCE_TRACES.rglob("*.pt") if p.name != "trace.pt"], "the tiny CLIP is stored once"


# --- the fast paths against the reference order -------------------------------------------------
def _first_calls(replay: Replay) -> tuple[torch.Tensor, torch.Tensor, dict[str, torch.Tensor]]:
    """Evaluation logits, training loss and gradients of the trace's first calls (no step)."""
    trace, method = replay.trace, replay.method
    calls = replay.spec["calls"]
    evaluation = next(c for c in calls if c["mode"] == "eval")
    training = next(c for c in calls if c["mode"] == "train")
    with method.evaluating():
        logits = method(trace[evaluation["batch"]]).logits
    method.train()
    for _, name, value in replay.recorded(f"{training['tag']}.random."):
        method.random_draws.replay(name, int(value))
    second_view = trace[training["second_view"]] if "second_view" in training else None
    loss = method(trace[training["batch"]], trace[training["labels"]], second_view=second_view).loss
    loss.backward()
    grads = {name: p.grad.clone() for name, p in method.named_parameters() if p.grad is not None}
    return logits, loss.detach(), grads


@pytest.mark.parametrize("config", [c for c in CONFIGS if c.method in SHIPPED_METHODS], ids=_id)
def test_fast_paths_agree_with_the_reference_order(config: TraceConfig) -> None:
    with torch_threads(1):
        fast = _first_calls(build_replay(config, reference_order=False))
        exact = _first_calls(build_replay(config, reference_order=True))
    scale = exact[0].abs().max()
    assert ((fast[0] - exact[0]).abs().max() / scale).item() < 1e-5, "evaluation logits"
    assert abs(fast[1].item() - exact[1].item()) <= 1e-5 * max(1.0, abs(exact[1].item())), "training loss"
    assert fast[2].keys() == exact[2].keys()
    for name, grad in exact[2].items():
        error = ((fast[2][name] - grad).abs().max() / grad.abs().max().clamp_min(1e-12)).item()
        assert error < 1e-4, f"gradient of {name}: {error:.3g} of its largest entry"
