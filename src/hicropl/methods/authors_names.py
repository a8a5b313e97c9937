"""The authors' state-dict names of each method's tensors, and this library's.

The authors' code names a tensor by its place in their ``CustomCLIP`` (``prompt_learner.ctx``,
``image_encoder.transformer.resblocks.3.VPT_shallow``). Their golden traces (``state.<name>``) and
their checkpoints use those names; :data:`AUTHORS_STATE_NAMES` says, per method, what each one is here:

* ``ours``: a tensor of the method, under our name (the only kind a replay or an import loads);
* ``rebuilt``: derived from the class names (``token_prefix``/``token_suffix``: the token embeddings
  around the context), rebuilt for the current classes as the authors' own ``load_model`` does;
* ``frozen``: CLIP's own weights, with the OpenAI state-dict name they equal;
* ``unused``: built by the authors' code but never used by its forward (KgCoOp's meta-net and adapter).

Dassl checkpoints of CoOp, CoCoOp and KgCoOp hold the prompt learner's state dict (names without the
``prompt_learner.`` prefix); those of IVLP and MaPLe hold the whole ``CustomCLIP``'s.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

NameKind = Literal["ours", "rebuilt", "frozen", "unused"]
Rename = tuple[str, Callable[[re.Match[str]], str]]


def _same(match: re.Match[str]) -> str:
    return match[0]


def _indexed(prefix: str, offset: int = 0) -> Callable[[re.Match[str]], str]:
    """``<prefix><index + offset><rest>``: group 1 is the authors' index, an optional group 2 what follows."""

    def rename(match: re.Match[str]) -> str:
        rest = match[2] if match.re.groups > 1 else ""
        return f"{prefix}{int(match[1]) + offset}{rest}"

    return rename


# CLIP's frozen towers as the authors' CustomCLIP holds them, and their OpenAI state-dict names.
_FROZEN_CLIP: tuple[Rename, ...] = (
    (r"logit_scale", _same),
    (r"image_encoder\.(.+)", lambda m: f"visual.{m[1]}"),
    (r"text_encoder\.((?:transformer|ln_final)\..+|positional_embedding|text_projection)", lambda m: m[1]),
)
_REBUILT = (r"prompt_learner\.token_prefix", r"prompt_learner\.token_suffix")


@dataclass(frozen=True)
class StateNames:
    """One method's table; patterns match whole authors' names and are tried in this order:
    ``ours``, ``rebuilt``, ``unused``, ``frozen``."""

    ours: tuple[Rename, ...]
    rebuilt: tuple[str, ...] = _REBUILT
    unused: tuple[str, ...] = ()
    frozen: tuple[Rename, ...] = _FROZEN_CLIP

    def classify(self, authors_name: str) -> tuple[NameKind, str | None]:
        """``(kind, name)``: our parameter name (``ours``), the OpenAI CLIP name (``frozen``) or None.

        Raises ``KeyError`` for a name the table does not know."""
        for pattern, target in self.ours:
            match = re.fullmatch(pattern, authors_name)
            if match:
                return "ours", target(match)
        if any(re.fullmatch(pattern, authors_name) for pattern in self.rebuilt):
            return "rebuilt", None
        if any(re.fullmatch(pattern, authors_name) for pattern in self.unused):
            return "unused", None
        for pattern, target in self.frozen:
            match = re.fullmatch(pattern, authors_name)
            if match:
                return "frozen", target(match)
        raise KeyError(f"the authors' state name {authors_name!r} is not in the table")

    def ours_for(self, authors_name: str) -> str:
        """Our name of one of the authors' method tensors (KeyError for anything else)."""
        kind, name = self.classify(authors_name)
        if kind != "ours" or name is None:
            raise KeyError(f"{authors_name!r} is {kind}, not a tensor of the method")
        return name


# IVLP's deep prompts, as IVLP and PromptSRC (which trains IVLP's prompts) name them.
_IVLP_PROMPTS: tuple[Rename, ...] = (
    (r"prompt_learner\.ctx", lambda m: "text_prompts.0"),
    (r"text_encoder\.transformer\.resblocks\.(\d+)\.VPT_shallow", _indexed("text_prompts.")),
    (r"image_encoder\.VPT", lambda m: "vision_prompts.0"),
    (r"image_encoder\.transformer\.resblocks\.(\d+)\.VPT_shallow", _indexed("vision_prompts.")),
)

AUTHORS_STATE_NAMES: dict[str, StateNames] = {
    # KaiyangZhou/CoOp trainers/coop.py:96, 109-110.
    "coop": StateNames(ours=((r"prompt_learner\.ctx", lambda m: "ctx"),)),
    # KaiyangZhou/CoOp trainers/cocoop.py:93-99, 115-116.
    "cocoop": StateNames(
        ours=(
            (r"prompt_learner\.ctx", lambda m: "ctx"),
            (r"prompt_learner\.meta_net\.(linear[12]\.(?:weight|bias))", lambda m: f"meta_net.{m[1]}"),
        )
    ),
    # htyao89/KgCoOp KgCoOp/trainers/kgcoop.py:121-125, 148-152, 165-166, 220-221.
    "kgcoop": StateNames(
        ours=((r"prompt_learner\.ctx", lambda m: "ctx"),),
        unused=(r"prompt_learner\.bias_vectors", r"(?:prompt_learner\.)?meta_net\..+", r"adapter\..+"),
    ),
    # muzairkhattak/multimodal-prompt-learning trainers/independentVL.py:100, clip/model.py:221, 378.
    "ivlp": StateNames(ours=_IVLP_PROMPTS),
    # muzairkhattak/multimodal-prompt-learning trainers/maple.py:103-117.
    "maple": StateNames(
        ours=(
            (r"prompt_learner\.ctx", lambda m: "text_prompts.0"),
            (r"prompt_learner\.compound_prompts_text\.(\d+)", _indexed("text_prompts.", 1)),
            (r"prompt_learner\.proj\.(weight|bias)", lambda m: f"couplings.0.{m[1]}"),
            (r"prompt_learner\.compound_prompt_projections\.(\d+)(\.(?:weight|bias))", _indexed("couplings.", 1)),
        )
    ),
    # ZjjConan/Multi-Modal-Adapter trainers/mmadapter.py (AdapterLearner._build_adapter, _build_text_embedding).
    "mma": StateNames(
        ours=(
            (
                r"adapter_learner\.(text|visual)_adapter\.(\d+)\.(down|up)(?:\.0)?\.(weight|bias)",
                lambda m: f"{'text' if m[1] == 'text' else 'vision'}_adapters.{m[2]}.{m[3]}.{m[4]}",
            ),
            (
                r"adapter_learner\.shared_adapter\.(\d+)\.0\.(weight|bias)",
                lambda m: f"shared_projections.{m[1]}.{m[2]}",
            ),
        ),
        rebuilt=(r"adapter_learner\.token_embedding", r"adapter_learner\.tokenized_prompts"),
    ),
    # htyao89/Textual-based_Class-aware_prompt_tuning trainers/tcp.py:154, 169-173, 185-186.
    "tcp": StateNames(
        ours=(
            (r"prompt_learner\.ctx", lambda m: "ctx"),
            (r"prompt_learner\.meta_net\.(linear[12]\.(?:weight|bias))", lambda m: f"meta_net.{m[1]}"),
        )
    ),
    # ShuvenduRoy/CoPrompt trainers/coprompt.py:159-180 (MaPLe's prompt learner), 299-300 (adapters); the
    # frozen distillation CLIP (model_distill, 297) is the same CLIP's weights.
    "coprompt": StateNames(
        ours=(
            (r"prompt_learner\.ctx", lambda m: "text_prompts.0"),
            (r"prompt_learner\.compound_prompts_text\.(\d+)", _indexed("text_prompts.", 1)),
            (r"prompt_learner\.proj\.(weight|bias)", lambda m: f"couplings.0.{m[1]}"),
            (r"prompt_learner\.compound_prompt_projections\.(\d+)(\.(?:weight|bias))", _indexed("couplings.", 1)),
            (r"(adapter_(?:image|text)\.fc\.[02]\.weight)", lambda m: m[1]),
        ),
        frozen=((r"model_distill\.(.+)", lambda m: m[1]), *_FROZEN_CLIP),
    ),
    # zzeoZheng/HiCroPL trainers/hicropl.py: the official variant keeps the authors' names.
    "hicropl": StateNames(
        ours=((r"prompt_learner\.(?!ZS_image_encoder\.|token_prefix$|token_suffix$).+", _same),),
        frozen=((r"prompt_learner\.ZS_image_encoder\.(.+)", lambda m: f"visual.{m[1]}"), *_FROZEN_CLIP),
    ),
    # muzairkhattak/PromptSRC trainers/promptsrc.py (IVLP's prompts; the frozen zero-shot image tower).
    "promptsrc": StateNames(
        ours=_IVLP_PROMPTS,
        frozen=((r"prompt_learner\.ZS_image_encoder\.(.+)", lambda m: f"visual.{m[1]}"), *_FROZEN_CLIP),
    ),
}


# Methods whose Dassl trainer registers (and so checkpoints) the prompt learner alone, saving names without
# ``prompt_learner.`` (``register_model("prompt_learner", model.prompt_learner, ...)``); the others register
# the whole CustomCLIP.
PROMPT_LEARNER_CHECKPOINTS = frozenset({"coop", "cocoop", "kgcoop", "hicropl"})
# Methods whose Dassl checkpoints ``hicropl import`` reads: the layout of each (what the trainer
# registers, which tensors it saves) is checked by tests that build such checkpoints from the traces.
DASSL_IMPORTABLE = frozenset({"coop", "cocoop", "kgcoop", "ivlp", "maple", "hicropl"})


def state_names(method: str) -> StateNames:
    try:
        return AUTHORS_STATE_NAMES[method]
    except KeyError:
        raise KeyError(f"no table of the authors' state names for method {method!r}") from None
