"""The method settings an authors' checkpoint fixes, read from the shapes of its tensors (our names).

A checkpoint shows a prompt's length, whether a context is class-specific and how many layers carry
prompts; it does not show words the prompts were initialised from (``ctx_init``), which change the
class prompts' text for MaPLe, IVLP and HiCroPL and so must come from the authors' config.
:func:`config_from_shapes` gives the settings the shapes determine; :func:`required_config` the ones the
authors' code implies whatever the shapes (HiCroPL only matches the authors' code as variant
``official``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from hicropl.methods.prompt_helpers import MAPLE_MAX_WORD_INIT, clean_init
from hicropl.typed_config import to_dict

Shapes = Mapping[str, tuple[int, ...]]

_REQUIRED: dict[str, dict[str, Any]] = {"hicropl": {"variant": "official"}}


def required_config(method: str) -> dict[str, Any]:
    return dict(_REQUIRED.get(method, {}))


def _count(shapes: Shapes, pattern: str) -> int:
    """How many distinct indices ``(\\d+)`` of ``pattern`` the names carry."""
    return len({match[1] for name in shapes if (match := re.fullmatch(pattern, name))})


def _words(text: str) -> int:
    return len(clean_init(text).split(" ")) if text else 0


def _context(shapes: Shapes, current: Mapping[str, Any], class_specific: bool) -> dict[str, Any]:
    """CoOp, CoCoOp, KgCoOp: ``ctx`` is ``[m, d]`` (shared) or ``[C, m, d]`` (class-specific, CSC)."""
    ctx = shapes.get("ctx")
    if ctx is None:
        return {}
    n_ctx, csc = ctx[-2], len(ctx) == 3
    flags = {"csc": csc} if class_specific else {}
    if current.get("ctx_init") and _words(current["ctx_init"]) == n_ctx and not csc:
        return flags  # the words give the length; their text leaves the class prompts' tokens unchanged
    return {"ctx_init": "", "n_ctx": n_ctx, **flags}


def _word_init(n_ctx: int, current: Mapping[str, Any]) -> dict[str, Any]:
    # The authors' MaPLe and IVLP ignore CTX_INIT for more than 4 vectors; our configs refuse it.
    return {"ctx_init": ""} if n_ctx > MAPLE_MAX_WORD_INIT and current.get("ctx_init") else {}


def _ivlp(shapes: Shapes, current: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if "text_prompts.0" in shapes:
        out |= {"n_ctx_text": shapes["text_prompts.0"][0], "depth_text": _count(shapes, r"text_prompts\.(\d+)")}
        out |= _word_init(out["n_ctx_text"], current)
    if "vision_prompts.0" in shapes:
        out |= {
            "n_ctx_vision": shapes["vision_prompts.0"][0],
            "depth_vision": _count(shapes, r"vision_prompts\.(\d+)"),
        }
    return out


def _maple(shapes: Shapes, current: Mapping[str, Any]) -> dict[str, Any]:
    if "text_prompts.0" not in shapes:
        return {}
    n_ctx = shapes["text_prompts.0"][0]
    return {"n_ctx": n_ctx, "depth": _count(shapes, r"text_prompts\.(\d+)"), **_word_init(n_ctx, current)}


def _hicropl(shapes: Shapes, current: Mapping[str, Any]) -> dict[str, Any]:
    if "prompt_learner.ctx" not in shapes:
        return dict(_REQUIRED["hicropl"])
    return {
        **_REQUIRED["hicropl"],
        "n_ctx": shapes["prompt_learner.ctx"][0],
        "depth": _count(shapes, r"prompt_learner\.cross_prompts_text\.(\d+)"),
        # one text LKP per layer before the boundary (t2i), one visual LKP per layer after it
        "boundary": _count(shapes, r"prompt_learner\.attn_pooling_text_nets\.(\d+)\..+"),
    }


_RULES: dict[str, Callable[[Shapes, Mapping[str, Any]], dict[str, Any]]] = {
    "coop": lambda shapes, current: _context(shapes, current, class_specific=True),
    "kgcoop": lambda shapes, current: _context(shapes, current, class_specific=True),
    "cocoop": lambda shapes, current: _context(shapes, current, class_specific=False),
    "ivlp": _ivlp,
    "maple": _maple,
    "hicropl": _hicropl,
}


def config_from_shapes(method: str, shapes: Shapes, current: Mapping[str, Any]) -> dict[str, Any]:
    """The config fields of ``method`` that a checkpoint with these tensor shapes (our names) needs, given
    the ``current`` config (a mapping of its fields); empty for a method without rules."""
    rule = _RULES.get(method)
    return rule(shapes, current) if rule else {}


def settings_to_change(method: str, shapes: Shapes, config: Any) -> dict[str, Any]:
    """The fields of ``config`` (a method config) that differ from what the checkpoint's shapes need."""
    current = to_dict(config)
    wanted = config_from_shapes(method, shapes, current)
    return {key: value for key, value in wanted.items() if current.get(key) != value}


def setting_hints(method: str, shapes: Shapes, config: Any) -> str:
    """A sentence naming the settings to change so that ``config`` fits the checkpoint's shapes ("" if none)."""
    current = to_dict(config)
    differ = settings_to_change(method, shapes, config)
    if not differ:
        return ""
    sets = set_flags(differ)
    found = ", ".join(f"{key}={current.get(key)!r}" for key in differ)
    return f"The checkpoint's shapes need {sets} (the config has {found})."


def set_flags(fields: Mapping[str, Any]) -> str:
    """``--set method.<key>=<value> ...`` for ``fields``."""
    return " ".join(f"--set method.{key}={_text(value)}" for key, value in fields.items())


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, str) and (not value or " " in value):
        return f"'{value}'"  # as a shell passes it on
    return str(value)
