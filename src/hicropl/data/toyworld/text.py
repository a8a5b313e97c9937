"""Words for ToyWorld scenes: pretraining captions, class names and per-class descriptions.

Captions name a scene's class words (colour, pattern, shape or letter) and, now and then, its
nuisance attributes (size, position, background), in varied word orders and phrasings, so the
tiny CLIP learns a small compositional language. Class descriptions, the stand-in for the LLM
descriptions that HiCroPL's frozen text features average, are sentences of that same language.
"""

from __future__ import annotations

import numpy as np

from hicropl.data.toyworld.render import KIND_SHAPE
from hicropl.data.toyworld.world import (
    BACKGROUNDS,
    COLOUR_NAMES,
    LETTERS,
    PATTERN_PHRASES,
    PATTERN_WORDS,
    PATTERNS,
    SHAPE_PHRASES,
    SHAPES,
)

_PREFIXES = ("a", "a photo of a", "a picture of a", "an image of a", "a drawing of a", "a rendering of a")


def size_word(scale: float) -> str:
    return "small" if scale < 0.48 else "large" if scale > 0.62 else "medium"


def position_phrase(cx: float, cy: float) -> str:
    if max(abs(cx), abs(cy)) < 0.2:
        return "in the center"
    if abs(cx) >= abs(cy):
        return "on the left" if cx < 0 else "on the right"
    return "at the top" if cy < 0 else "at the bottom"


def _pick(rng: np.random.Generator, options: tuple[str, ...] | list[str]) -> str:
    return options[int(rng.integers(len(options)))]


def shape_caption(
    rng: np.random.Generator, colour: str, shape: str, pattern: str, size: str, position: str, background: str
) -> str:
    adjectives = []
    if size != "medium" and rng.random() < 0.5:
        adjectives.append(size)
    colour_adj = [colour] if rng.random() < 0.95 else []
    pattern_adj: list[str] = []
    pattern_tail = ""
    if pattern != "solid" or rng.random() < 0.3:
        roll = rng.random()
        if roll < 0.55:
            pattern_adj = [_pick(rng, PATTERN_WORDS[pattern])]
        elif roll < 0.8:
            pattern_tail = " " + PATTERN_PHRASES[pattern]
    middle = colour_adj + pattern_adj if rng.random() < 0.75 else pattern_adj + colour_adj
    noun = shape if rng.random() < 0.8 else _pick(rng, SHAPE_PHRASES[shape])
    text = " ".join([_pick(rng, _PREFIXES), *adjectives, *middle, noun]) + pattern_tail
    return text + _tail(rng, position, background)


def glyph_caption(rng: np.random.Generator, colour: str, letter: str, size: str, position: str, background: str) -> str:
    size_adj = f"{size} " if size != "medium" and rng.random() < 0.5 else ""
    roll = rng.random()
    if roll < 0.55:
        text = f"{_pick(rng, _PREFIXES)} {size_adj}{colour} letter {letter}"
    elif roll < 0.8:
        text = f"the {size_adj}letter {letter} in {colour}"
    elif roll < 0.9:
        text = f"{_pick(rng, _PREFIXES)} {size_adj}{colour} glyph of the letter {letter}"
    else:
        text = f"the letter {letter}"
    return text + _tail(rng, position, background)


def _tail(rng: np.random.Generator, position: str, background: str) -> str:
    parts = []
    if rng.random() < 0.25:
        parts.append(position)
    if rng.random() < 0.4:
        parts.append(f"on a {background} background")
    if len(parts) == 2 and rng.random() < 0.5:
        parts.reverse()
    return "".join(" " + part for part in parts)


def captions(
    rng: np.random.Generator,
    kind: np.ndarray,
    ident: np.ndarray,
    colour: np.ndarray,
    pattern: np.ndarray,
    scale: np.ndarray,
    cx: np.ndarray,
    cy: np.ndarray,
    bg_word: np.ndarray,
) -> list[str]:
    """One caption per scene (class words always, nuisance attributes sometimes)."""
    out = []
    for i in range(len(kind)):
        size = size_word(float(scale[i]))
        position = position_phrase(float(cx[i]), float(cy[i]))
        background = BACKGROUNDS[int(bg_word[i])]
        name = COLOUR_NAMES[int(colour[i])]
        if int(kind[i]) == KIND_SHAPE:
            out.append(
                shape_caption(rng, name, SHAPES[int(ident[i])], PATTERNS[int(pattern[i])], size, position, background)
            )
        else:
            out.append(glyph_caption(rng, name, LETTERS[int(ident[i])], size, position, background))
    return out


def shape_class_name(colour: str, shape: str) -> str:
    return f"{colour} {shape}"


def glyph_class_name(colour: str, letter: str) -> str:
    return f"{colour} letter {letter}"


def shape_descriptions(colour: str, shape: str) -> list[str]:
    """Sentences describing the class (its attributes, and the nuisances it is seen with)."""
    sentences = [f"a {colour} {shape}.", *(f"a {colour} {phrase}." for phrase in SHAPE_PHRASES[shape])]
    sentences += [f"a {colour} {PATTERN_WORDS[p][0]} {shape}." for p in PATTERNS]
    sentences += [f"a {size} {colour} {shape}." for size in ("small", "large")]
    sentences += [f"a {colour} {shape} on a {bg} background." for bg in BACKGROUNDS]
    return sentences


def glyph_descriptions(colour: str, letter: str) -> list[str]:
    sentences = [
        f"a {colour} letter {letter}.",
        f"the letter {letter} in {colour}.",
        f"a {colour} glyph of the letter {letter}.",
    ]
    sentences += [f"a {size} {colour} letter {letter}." for size in ("small", "large")]
    sentences += [f"a {colour} letter {letter} on a {bg} background." for bg in BACKGROUNDS]
    return sentences
