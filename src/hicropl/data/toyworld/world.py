"""The concepts of ToyWorld: colours, shapes, patterns and glyphs, and the words that name them.

Everything here is plain data. The renderer (:mod:`hicropl.data.toyworld.render`) draws scenes from
these concepts; the caption and description functions (:mod:`hicropl.data.toyworld.text`) name them with
a small vocabulary that the tiny CLIP learns during pretraining.
"""

from __future__ import annotations

import numpy as np

# name -> sRGB in [0, 1]. Hues are close enough that a colour cast confuses some of them.
COLOURS: dict[str, tuple[float, float, float]] = {
    "red": (0.86, 0.13, 0.13),
    "orange": (0.96, 0.55, 0.10),
    "yellow": (0.93, 0.85, 0.15),
    "green": (0.18, 0.66, 0.22),
    "cyan": (0.15, 0.78, 0.82),
    "blue": (0.15, 0.30, 0.88),
    "purple": (0.55, 0.22, 0.75),
    "pink": (0.96, 0.50, 0.72),
}
COLOUR_NAMES: tuple[str, ...] = tuple(COLOURS)

# Interleaved so that the first and second halves (CoOp's base and novel classes) are alike in difficulty.
SHAPES: tuple[str, ...] = (
    "circle",
    "triangle",
    "star",
    "cross",
    "pentagon",
    "square",
    "ring",
    "heart",
    "hexagon",
    "crescent",
)
# An alternative, descriptive phrase for each shape; pretraining captions use it now and then, so the
# frozen text encoder knows what "a shape with three corners" looks like (HiCroPL's descriptions use it).
SHAPE_PHRASES: dict[str, tuple[str, ...]] = {
    "circle": ("round shape", "round disc"),
    "triangle": ("shape with three corners", "three sided shape"),
    "star": ("shape with five points", "pointy star shape"),
    "cross": ("plus sign", "shape with four arms"),
    "pentagon": ("shape with five corners", "five sided shape"),
    "square": ("shape with four corners", "four sided box"),
    "ring": ("hollow circle", "round loop"),
    "heart": ("love heart", "shape with two round lobes"),
    "hexagon": ("shape with six corners", "six sided shape"),
    "crescent": ("moon shape", "curved moon"),
}
PATTERNS: tuple[str, ...] = ("solid", "striped", "dotted", "checkered")
PATTERN_WORDS: dict[str, tuple[str, ...]] = {
    "solid": ("solid", "plain"),
    "striped": ("striped",),
    "dotted": ("dotted", "spotted"),
    "checkered": ("checkered",),
}
PATTERN_PHRASES: dict[str, str] = {
    "solid": "with no pattern",
    "striped": "with stripes",
    "dotted": "with dots",
    "checkered": "with a checkerboard pattern",
}
SIZES: tuple[str, ...] = ("small", "medium", "large")
BACKGROUNDS: tuple[str, ...] = ("dark", "gray", "light")

# A 5x7 bitmap font ('#' = ink). Letters only; the glyph classes use a subset of them.
_FONT = {
    "a": ".###. #...# #...# ##### #...# #...# #...#",
    "b": "####. #...# #...# ####. #...# #...# ####.",
    "c": ".###. #...# #.... #.... #.... #...# .###.",
    "d": "###.. #..#. #...# #...# #...# #..#. ###..",
    "e": "##### #.... #.... ####. #.... #.... #####",
    "f": "##### #.... #.... ####. #.... #.... #....",
    "g": ".###. #...# #.... #.### #...# #...# .####",
    "h": "#...# #...# #...# ##### #...# #...# #...#",
    "i": ".###. ..#.. ..#.. ..#.. ..#.. ..#.. .###.",
    "j": "..### ...#. ...#. ...#. ...#. #..#. .##..",
    "k": "#...# #..#. #.#.. ##... #.#.. #..#. #...#",
    "l": "#.... #.... #.... #.... #.... #.... #####",
    "m": "#...# ##.## #.#.# #.#.# #...# #...# #...#",
    "n": "#...# #...# ##..# #.#.# #..## #...# #...#",
    "o": ".###. #...# #...# #...# #...# #...# .###.",
    "p": "####. #...# #...# ####. #.... #.... #....",
    "q": ".###. #...# #...# #...# #.#.# #..#. .##.#",
    "r": "####. #...# #...# ####. #.#.. #..#. #...#",
    "s": ".#### #.... #.... .###. ....# ....# ####.",
    "t": "##### ..#.. ..#.. ..#.. ..#.. ..#.. ..#..",
    "u": "#...# #...# #...# #...# #...# #...# .###.",
    "v": "#...# #...# #...# #...# #...# .#.#. ..#..",
    "w": "#...# #...# #...# #.#.# #.#.# #.#.# .#.#.",
    "x": "#...# #...# .#.#. ..#.. .#.#. #...# #...#",
    "y": "#...# #...# .#.#. ..#.. ..#.. ..#.. ..#..",
    "z": "##### ....# ...#. ..#.. .#... #.... #####",
}
# "a" and "i" read as words in captions; "o" is a ring. The glyph world uses the other 23 letters.
LETTERS: tuple[str, ...] = tuple(letter for letter in _FONT if letter not in ("a", "i", "o"))


def glyph_bitmaps() -> np.ndarray:
    """``[len(LETTERS), 7, 5]`` booleans, one bitmap per letter of :data:`LETTERS`."""
    rows = []
    for letter in LETTERS:
        lines = _FONT[letter].split()
        rows.append([[ch == "#" for ch in line] for line in lines])
    return np.asarray(rows, dtype=bool)


def letter_strokes(letter: str) -> int:
    """How many ink cells the letter has: a crude 'weight' used in descriptions."""
    return _FONT[letter].count("#")
