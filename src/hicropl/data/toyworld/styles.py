"""Image distributions ("styles"): the broad pretraining world and the shifted downstream domains.

A :class:`Style` fixes the ranges of every nuisance parameter of a scene: size, position, rotation,
background, clutter, fading, the camera's colour cast, blur and noise. Pretraining draws from a
broad, clean distribution; each downstream dataset adds a shift the tiny CLIP never saw (colourful
clutter under warm light; faded ink on textured paper under cool light).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hicropl.data.toyworld.render import BG_BLOTCHES, BG_PAPER, BG_PLAIN, KIND_GLYPH, KIND_SHAPE, Scenes
from hicropl.data.toyworld.world import BACKGROUNDS, COLOURS

_COLOUR_TABLE = np.asarray(list(COLOURS.values()), dtype=np.float32)
# Background luminance ranges per word of BACKGROUNDS.
_BG_LEVELS = {"dark": (0.04, 0.24), "gray": (0.40, 0.58), "light": (0.78, 0.97)}


@dataclass(frozen=True)
class Style:
    name: str
    scale: tuple[float, float] = (0.36, 0.75)
    max_angle: float = 0.3
    backgrounds: tuple[str, ...] = BACKGROUNDS
    bg_kinds: tuple[tuple[int, float], ...] = ((BG_PLAIN, 1.0),)  # (kind, probability)
    bg_strength: tuple[float, float] = (0.0, 0.0)
    clutter: tuple[int, int] = (0, 0)  # inclusive range of distractor strokes
    clutter_p: float = 0.0  # probability that a scene has any clutter
    fade: tuple[float, float] = (0.0, 0.0)
    tint: tuple[float, float, float] = (1.0, 1.0, 1.0)
    tint_jitter: float = 0.03
    colour_jitter: float = 0.04
    blur_p: float = 0.0
    noise: tuple[float, float] = (0.0, 0.03)


PRETRAIN = Style(
    "pretrain",
    bg_kinds=((BG_PLAIN, 0.85), (BG_BLOTCHES, 0.15)),
    bg_strength=(0.05, 0.25),
    clutter=(1, 1),
    clutter_p=0.1,
    tint_jitter=0.05,
    blur_p=0.1,
)
# Downstream domain shifts.
CLUTTER = Style(
    "clutter",
    scale=(0.45, 0.75),
    backgrounds=("gray",),
    bg_kinds=((BG_BLOTCHES, 1.0),),
    bg_strength=(0.3, 0.5),
    clutter=(2, 3),
    clutter_p=1.0,
    tint=(1.1, 0.93, 0.75),
    tint_jitter=0.05,
    noise=(0.04, 0.07),
)
FADED_PRINT = Style(
    "faded_print",
    scale=(0.5, 0.8),
    backgrounds=("light",),
    bg_kinds=((BG_PAPER, 1.0),),
    bg_strength=(0.05, 0.1),
    fade=(0.35, 0.55),
    tint=(0.82, 0.95, 1.12),
    tint_jitter=0.05,
    blur_p=0.7,
    noise=(0.04, 0.07),
)


def sample_scenes(
    rng: np.random.Generator,
    style: Style,
    kind: np.ndarray,
    ident: np.ndarray,
    colour: np.ndarray,
    pattern: np.ndarray,
) -> tuple[Scenes, np.ndarray]:
    """Scenes of the given objects in ``style``; also returns each scene's background word index."""
    n = len(kind)
    scale = rng.uniform(*style.scale, size=n)
    reach = np.clip(1.0 - 0.9 * scale, 0.0, None)
    cx = rng.uniform(-1, 1, size=n) * reach
    cy = rng.uniform(-1, 1, size=n) * reach
    angle = rng.uniform(-style.max_angle, style.max_angle, size=n)
    rgb = _COLOUR_TABLE[colour] * rng.uniform(0.85, 1.1, size=(n, 1)) + rng.normal(0, style.colour_jitter, size=(n, 3))
    words = np.asarray([BACKGROUNDS.index(w) for w in style.backgrounds])
    bg_word = words[rng.integers(0, len(words), size=n)]
    lows = np.asarray([_BG_LEVELS[w][0] for w in BACKGROUNDS])[bg_word]
    highs = np.asarray([_BG_LEVELS[w][1] for w in BACKGROUNDS])[bg_word]
    level = rng.uniform(lows, highs)
    background = np.clip(level[:, None] + rng.normal(0, 0.03, size=(n, 3)), 0, 1)
    kinds, probs = zip(*style.bg_kinds, strict=True)
    bg_kind = np.asarray(kinds)[rng.choice(len(kinds), size=n, p=np.asarray(probs) / sum(probs))]
    clutter = rng.integers(style.clutter[0], style.clutter[1] + 1, size=n) * (rng.random(n) < style.clutter_p)
    tint = np.asarray(style.tint)[None, :] * (1 + rng.normal(0, style.tint_jitter, size=(n, 3)))
    scenes = Scenes(
        kind=kind.astype(np.int64),
        ident=ident.astype(np.int64),
        colour=np.clip(rgb, 0, 1).astype(np.float32),
        pattern=np.where(kind == KIND_GLYPH, 0, pattern).astype(np.int64),
        scale=scale.astype(np.float32),
        cx=cx.astype(np.float32),
        cy=cy.astype(np.float32),
        angle=angle.astype(np.float32),
        background=background.astype(np.float32),
        bg_kind=bg_kind.astype(np.int64),
        bg_strength=rng.uniform(*style.bg_strength, size=n).astype(np.float32),
        clutter=clutter.astype(np.int64),
        fade=rng.uniform(*style.fade, size=n).astype(np.float32),
        tint=tint.astype(np.float32),
        blur=rng.random(n) < style.blur_p,
        noise=rng.uniform(*style.noise, size=n).astype(np.float32),
    )
    return scenes, bg_word


__all__ = ["CLUTTER", "FADED_PRINT", "KIND_GLYPH", "KIND_SHAPE", "PRETRAIN", "Style", "sample_scenes"]
