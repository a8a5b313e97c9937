"""The shared method test matrix: every registered method configuration runs the same tests.

A baseline joins by adding a :class:`MethodCase`. ``learns`` is the set of parameter-name prefixes
that must receive a gradient in a training step; every other parameter must not.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

CLASSNAMES = ("airplane", "golden_retriever", "pizza", "tabby cat")
DESCRIPTIONS = {
    "airplane": ["An airplane has two long wings and a tail.", "A passenger jet parked at a gate."],
    "golden retriever": ["A friendly dog with a golden coat.", "A dog carrying a ball on a lawn."],
    "pizza": ["A flat round bread with tomato and cheese.", "A slice of pizza with pepperoni."],
    "tabby cat": ["A cat with a striped coat.", "A small grey striped cat asleep on a sofa."],
}


@dataclass(frozen=True)
class MethodCase:
    id: str
    method: str
    config: dict[str, Any] = field(default_factory=dict)
    learns: tuple[str, ...] = ()  # name prefixes that receive gradients (empty: nothing trains)
    deterministic_eval: bool = True  # two evaluation passes give identical logits


SMALL_HICROPL = {"n_ctx": 2, "depth": 4, "boundary": 2}

CASES = [
    MethodCase("zeroshot", "zeroshot"),
    MethodCase("zeroshot-ensemble", "zeroshot", {"prompts": "ensemble"}),
    MethodCase("hicropl-paper", "hicropl", SMALL_HICROPL, learns=("prompt_learner.",)),
    MethodCase(
        "hicropl-paper-wordinit",
        "hicropl",
        {**SMALL_HICROPL, "n_ctx": 4, "ctx_init": "a photo of a"},
        learns=("prompt_learner.",),
    ),
    MethodCase(
        "hicropl-official",
        "hicropl",
        {**SMALL_HICROPL, "variant": "official"},
        learns=("prompt_learner.ctx", "prompt_learner.cross_prompts_text", "prompt_learner.cross_prompts_visual"),
        deterministic_eval=False,
    ),
]

# Baselines (tests/methods/test_baselines.py checks each one's defining property).
SMALL_DEEP = {"n_ctx_text": 2, "n_ctx_vision": 3, "depth_text": 3, "depth_vision": 2}
CASES += [
    MethodCase("coop", "coop", {"n_ctx": 4}, learns=("ctx",)),
    MethodCase("coop-csc-middle", "coop", {"n_ctx": 4, "csc": True, "class_token_position": "middle"}, learns=("ctx",)),
    MethodCase("cocoop", "cocoop", {"chunk": 3}, learns=("ctx", "meta_net.")),
    MethodCase("kgcoop", "kgcoop", {}, learns=("ctx",)),
    MethodCase("ivlp", "ivlp", SMALL_DEEP, learns=("text_prompts.", "vision_prompts.")),
    MethodCase("maple", "maple", {"n_ctx": 2, "depth": 3}, learns=("text_prompts.", "couplings.")),
    MethodCase("linear_probe", "linear_probe"),  # fitted by L-BFGS, not by the optimiser
    MethodCase("promptsrc", "promptsrc", SMALL_DEEP, learns=("text_prompts.", "vision_prompts.")),
]
CASES += [
    MethodCase(
        "mma",
        "mma",
        {"adapter_start": 0, "adapter_end": 3, "adapter_dim": 8, "adapter_scale": 0.1},
        learns=("text_adapters.", "vision_adapters.", "shared_projections."),
    ),
]
CASES += [
    MethodCase("tcp", "tcp", {"inject_layer": 2}, learns=("ctx", "meta_net.")),
]
CASES += [
    MethodCase(
        "coprompt",
        "coprompt",
        {"n_ctx": 2, "depth": 3, "distill_weight": 8.0},
        learns=("text_prompts.", "couplings.", "adapter_image.", "adapter_text."),
    ),
]
