"""The authors' yacs settings of a method, translated into this library's method config.

The authors' code reads ``cfg.TRAINER.<SECTION>.<KEY>``; given those as a
flat mapping (``{"TRAINER.COOP.N_CTX": 16, ...}``; missing keys take the defaults of the authors'
``train.py``), :func:`config_from_authors` returns the config that makes this library compute what
their code computes. Where their code silently ignores a setting (CoOp's CSC or N_CTX with
CTX_INIT, MaPLe's and IVLP's CTX_INIT for more than 4 vectors, KgCoOp's CTX_INIT words and class
token position), the translation drops it, as their code does: our configs refuse those combinations
instead of ignoring them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from hicropl.errors import ConfigError
from hicropl.methods.prompt_helpers import MAPLE_MAX_WORD_INIT

# The cfg.TRAINER section each method's authors read.
TRAINER_SECTION = {
    "coop": "COOP",
    "cocoop": "COCOOP",
    "kgcoop": "COOP",
    "ivlp": "IVLP",
    "maple": "MAPLE",
    "hicropl": "HICROPL",
    "promptsrc": "PROMPTSRC",
    "mma": "MMADAPTER",
    "tcp": "COOP",
    "coprompt": "CoPrompt",
}

# train.py defaults (KaiyangZhou/CoOp train.py:90-100; htyao89/KgCoOp train.py:92-99;
# muzairkhattak/multimodal-prompt-learning train.py:105-120).
_DEFAULTS: dict[str, dict[str, Any]] = {
    "coop": {"N_CTX": 16, "CSC": False, "CTX_INIT": "", "CLASS_TOKEN_POSITION": "end"},
    "cocoop": {"N_CTX": 16, "CTX_INIT": ""},
    "kgcoop": {"N_CTX": 16, "CSC": False, "CTX_INIT": False, "W": 1.0, "CLASS_TOKEN_POSITION": "end"},
    "ivlp": {
        "N_CTX_TEXT": 2,
        "N_CTX_VISION": 2,
        "CTX_INIT": "a photo of a",
        "PROMPT_DEPTH_TEXT": 9,
        "PROMPT_DEPTH_VISION": 9,
    },
    "maple": {"N_CTX": 2, "CTX_INIT": "a photo of a", "PROMPT_DEPTH": 9},
    "hicropl": {},
    # muzairkhattak/PromptSRC train.py (cfg.TRAINER.PROMPTSRC).
    "promptsrc": {
        "N_CTX_TEXT": 4,
        "N_CTX_VISION": 4,
        "CTX_INIT": "a photo of a",
        "PROMPT_DEPTH_TEXT": 9,
        "PROMPT_DEPTH_VISION": 9,
        "TEXT_LOSS_WEIGHT": 25,
        "IMAGE_LOSS_WEIGHT": 10,
        "GPA_MEAN": 15,
        "GPA_STD": 1,
    },
    # ZjjConan/Multi-Modal-Adapter train.py (extend_cfg).
    "mma": {"TEXT_CTX_INIT": "", "ADAPTER_START": 4, "ADAPTER_END": 12, "ADAPTER_DIM": 32, "ADAPTER_SCALE": 0.1},
    # htyao89/Textual-based_Class-aware_prompt_tuning train.py:92-99; INJECT_LAYER is the hard-coded
    # layers=[8] (trainers/clip_text/model.py:268), which the golden traces patch per configuration.
    "tcp": {"N_CTX": 16, "CSC": False, "CTX_INIT": False, "INJECT_LAYER": 8},
    # ShuvenduRoy/CoPrompt train.py:88-95 (W and DISTILL are TRAINER.W / TRAINER.DISTILL there).
    "coprompt": {"N_CTX": 2, "CTX_INIT": "a photo of a", "PROMPT_DEPTH": 9, "W": 8.0, "DISTILL": "cosine"},
}
# Settings a method's authors read directly under cfg.TRAINER rather than its own section.
_TRAINER_LEVEL_KEYS = {"coprompt": ("W", "DISTILL")}


def _coop(cfg: Mapping[str, Any]) -> dict[str, Any]:
    position = str(cfg["CLASS_TOKEN_POSITION"])
    if cfg["CTX_INIT"]:  # N_CTX and CSC are ignored (coop.py:72-91)
        return {"ctx_init": str(cfg["CTX_INIT"]), "class_token_position": position}
    return {"n_ctx": int(cfg["N_CTX"]), "ctx_init": "", "csc": bool(cfg["CSC"]), "class_token_position": position}


def _cocoop(cfg: Mapping[str, Any]) -> dict[str, Any]:
    if cfg["CTX_INIT"]:  # N_CTX is ignored (cocoop.py:75-83)
        return {"ctx_init": str(cfg["CTX_INIT"])}
    return {"n_ctx": int(cfg["N_CTX"]), "ctx_init": ""}


def _kgcoop(cfg: Mapping[str, Any]) -> dict[str, Any]:
    # CTX_INIT's value is ignored (always "a photo of a"), and so is CLASS_TOKEN_POSITION (kgcoop.py:94-193).
    common = {"kg_weight": float(cfg["W"]), "kg_distance": "cosine", "class_token_position": "end"}
    if cfg["CTX_INIT"]:
        return {"ctx_init": "a photo of a", **common}
    return {"n_ctx": int(cfg["N_CTX"]), "ctx_init": "", "csc": bool(cfg["CSC"]), **common}


def _word_init(ctx_init: Any, n_ctx: int) -> str:
    # ``if ctx_init and n_ctx <= 4`` (maple.py:84, independentVL.py:82): longer contexts ignore CTX_INIT.
    return str(ctx_init) if ctx_init and n_ctx <= MAPLE_MAX_WORD_INIT else ""


def _ivlp(cfg: Mapping[str, Any]) -> dict[str, Any]:
    n_text = int(cfg["N_CTX_TEXT"])
    return {
        "n_ctx_text": n_text,
        "n_ctx_vision": int(cfg["N_CTX_VISION"]),
        "depth_text": int(cfg["PROMPT_DEPTH_TEXT"]),
        "depth_vision": int(cfg["PROMPT_DEPTH_VISION"]),
        "ctx_init": _word_init(cfg["CTX_INIT"], n_text),
    }


def _maple(cfg: Mapping[str, Any]) -> dict[str, Any]:
    n_ctx = int(cfg["N_CTX"])
    return {"n_ctx": n_ctx, "depth": int(cfg["PROMPT_DEPTH"]), "ctx_init": _word_init(cfg["CTX_INIT"], n_ctx)}


def _hicropl(cfg: Mapping[str, Any]) -> dict[str, Any]:
    # The official variant reproduces the authors' handling of CTX_INIT itself.
    return {
        "variant": "official",
        "n_ctx": int(cfg["N_CTX"]),
        "depth": int(cfg["PROMPT_DEPTH"]),
        "boundary": int(cfg["CROSS_LAYER"]),
        "ctx_init": str(cfg["CTX_INIT"] or ""),
        "lambda_consistency": float(cfg["LAMBD"]),
    }


def _promptsrc(cfg: Mapping[str, Any]) -> dict[str, Any]:
    # IVLP's prompts (promptsrc.py builds IVLP's VLPromptLearner and encoders), the loss weights, GPA.
    return {
        **_ivlp(cfg),
        "text_loss_weight": float(cfg["TEXT_LOSS_WEIGHT"]),
        "image_loss_weight": float(cfg["IMAGE_LOSS_WEIGHT"]),
        "gpa": True,
        "gpa_mean": float(cfg["GPA_MEAN"]),
        "gpa_std": float(cfg["GPA_STD"]),
    }


def _mma(cfg: Mapping[str, Any]) -> dict[str, Any]:
    # PREC is a precision setting, not the method's (fp32 in the traces, amp published).
    return {
        "adapter_start": int(cfg["ADAPTER_START"]),
        "adapter_end": int(cfg["ADAPTER_END"]),
        "adapter_dim": int(cfg["ADAPTER_DIM"]),
        "adapter_scale": float(cfg["ADAPTER_SCALE"]),
        "ctx_init": str(cfg["TEXT_CTX_INIT"] or ""),
    }


def _tcp(cfg: Mapping[str, Any]) -> dict[str, Any]:
    # W is read but overwritten by the hard-coded injection weight 1.0 (model.py:269); the loss weight 8.0 is
    # hard-coded (tcp.py:257); CTX_INIT's value is ignored (always "a photo of a", tcp.py:127).
    if cfg["CSC"] and not cfg["CTX_INIT"]:
        raise ConfigError(
            "TRAINER.COOP.CSC True: the authors' TCP builds a class-specific context and then fails to expand it "
            "(trainers/tcp.py:143, 199); it has no class-specific variant"
        )
    if cfg["CTX_INIT"]:
        return {"n_ctx": 4, "ctx_init": "a photo of a", "inject_layer": int(cfg["INJECT_LAYER"])}
    return {"n_ctx": int(cfg["N_CTX"]), "ctx_init": "", "inject_layer": int(cfg["INJECT_LAYER"])}


def _coprompt(cfg: Mapping[str, Any]) -> dict[str, Any]:
    n_ctx = int(cfg["N_CTX"])
    translated = {
        "n_ctx": n_ctx,
        "depth": int(cfg["PROMPT_DEPTH"]),
        "ctx_init": _word_init(cfg["CTX_INIT"], n_ctx),  # coprompt.py:140, MaPLe's rule
        "distill_weight": float(cfg["W"]),
        # Any DISTILL other than "cosine" takes the MSE branch (coprompt.py:352-364).
        "distill": "cosine" if cfg["DISTILL"] == "cosine" else "mse",
    }
    # Hard-coded in the authors' CustomCLIP (coprompt.py:301-302); a trace records them.
    for key, field in (("image_adapter_m", "image_adapter_ratio"), ("text_adapter_m", "text_adapter_ratio")):
        if key in cfg:
            translated[field] = float(cfg[key])
    return translated


_TRANSLATIONS: dict[str, Callable[[Mapping[str, Any]], dict[str, Any]]] = {
    "coop": _coop,
    "cocoop": _cocoop,
    "kgcoop": _kgcoop,
    "ivlp": _ivlp,
    "maple": _maple,
    "hicropl": _hicropl,
    "promptsrc": _promptsrc,
    "mma": _mma,
    "tcp": _tcp,
    "coprompt": _coprompt,
}


def config_from_authors(method: str, authors_cfg: Mapping[str, Any]) -> dict[str, Any]:
    """Our method config (a mapping for ``build_method``) for the authors' flat cfg of ``method``."""
    if method not in _TRANSLATIONS:
        raise KeyError(f"no translation of the authors' settings for method {method!r}")
    prefix = f"TRAINER.{TRAINER_SECTION[method]}."
    trainer = dict(_DEFAULTS[method])
    for key in _TRAINER_LEVEL_KEYS.get(method, ()):
        if f"TRAINER.{key}" in authors_cfg:
            trainer[key] = authors_cfg[f"TRAINER.{key}"]
    trainer.update({key[len(prefix) :]: value for key, value in authors_cfg.items() if key.startswith(prefix)})
    return _TRANSLATIONS[method](trainer)
