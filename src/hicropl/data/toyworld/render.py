"""A vectorised, seeded renderer: scene parameters in, ``uint8`` RGB images out (numpy only).

A batch of scenes is drawn at ``supersample`` times the output resolution on one coordinate grid
(each object in its own rotated, scaled frame), composited over its background, averaged down for
anti-aliasing, and then passed through the "camera": a colour cast, an optional blur and pixel
noise. Every random number comes from the ``numpy.random.Generator`` the caller passes, so a seed
fixes the pixels exactly.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from hicropl.data.toyworld.world import PATTERNS, SHAPES, glyph_bitmaps

IMAGE_SIZE = 32
KIND_SHAPE, KIND_GLYPH = 0, 1
BG_PLAIN, BG_BLOTCHES, BG_PAPER = 0, 1, 2
_PATTERN_PERIOD = 0.55  # in object units (the object's circumradius is 1)
_GLYPHS = glyph_bitmaps()


@dataclass
class Scenes:
    """Parameters of ``N`` scenes, one array entry per scene (colours are ``[N, 3]`` in [0, 1])."""

    kind: np.ndarray  # KIND_SHAPE or KIND_GLYPH
    ident: np.ndarray  # index into SHAPES or LETTERS
    colour: np.ndarray
    pattern: np.ndarray  # index into PATTERNS (glyphs: 0, solid)
    scale: np.ndarray  # circumradius in image units (the image spans [-1, 1])
    cx: np.ndarray
    cy: np.ndarray
    angle: np.ndarray  # radians
    background: np.ndarray  # base background colour
    bg_kind: np.ndarray  # BG_PLAIN, BG_BLOTCHES or BG_PAPER
    bg_strength: np.ndarray  # amplitude of blotches / paper texture
    clutter: np.ndarray  # number of distractor strokes
    fade: np.ndarray  # how much of the background shows through the object (0 = opaque)
    tint: np.ndarray  # per-channel gain of the camera
    blur: np.ndarray  # bool: 3x3 box blur
    noise: np.ndarray  # std of Gaussian pixel noise

    def __len__(self) -> int:
        return len(self.kind)

    def take(self, index: np.ndarray) -> Scenes:
        return Scenes(**{f.name: getattr(self, f.name)[index] for f in fields(self)})


def _polygon(u: np.ndarray, v: np.ndarray, sides: int, radius: float = 0.95) -> np.ndarray:
    """A regular polygon with a vertex at the top (image y grows downwards)."""
    inside = np.ones(u.shape, dtype=bool)
    apothem = radius * np.cos(np.pi / sides)
    for k in range(sides):
        theta = -np.pi / 2 + np.pi / sides + 2 * np.pi * k / sides
        inside &= u * np.cos(theta) + v * np.sin(theta) <= apothem
    return inside


def _shape_mask(name: str, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    r2 = u * u + v * v
    if name == "circle":
        return r2 <= 0.92**2
    if name == "square":
        return np.maximum(np.abs(u), np.abs(v)) <= 0.75
    if name == "triangle":
        return _polygon(u, v + 0.2, 3, 1.1)
    if name == "pentagon":
        return _polygon(u, v, 5)
    if name == "hexagon":
        return _polygon(u, v, 6)
    if name == "star":
        phi = np.arctan2(u, -v)  # 0 at the top
        t = np.mod(phi * 5 / (2 * np.pi) + 0.5, 1.0)
        limit = 0.42 + 0.58 * np.abs(t - 0.5) * 2
        return np.sqrt(r2) <= limit
    if name == "cross":
        au, av = np.abs(u), np.abs(v)
        return ((au <= 0.28) & (av <= 0.92)) | ((av <= 0.28) & (au <= 0.92))
    if name == "ring":
        return (r2 <= 0.95**2) & (r2 >= 0.52**2)
    if name == "heart":
        x, y = u * 1.25, -v * 1.25 + 0.25
        return (x * x + y * y - 1) ** 3 - x * x * y**3 <= 0
    if name == "crescent":
        return (r2 <= 0.92**2) & ((u - 0.42) ** 2 + (v + 0.12) ** 2 >= 0.72**2)
    raise ValueError(f"unknown shape {name!r}")


def _glyph_mask(ident: np.ndarray, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    cell = 2.0 / 7.0
    row = np.floor((v + 1.0) / cell).astype(np.int64)
    col = np.floor((u + 2.5 * cell) / cell).astype(np.int64)
    valid = (row >= 0) & (row < 7) & (col >= 0) & (col < 5)
    ids = np.broadcast_to(ident[:, None, None], u.shape)
    return valid & _GLYPHS[ids, np.clip(row, 0, 6), np.clip(col, 0, 4)]


def _pattern_tone(pattern: np.ndarray, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """True where the pattern's second (light) tone shows."""
    p = _PATTERN_PERIOD
    tone = np.zeros(u.shape, dtype=bool)
    rows = np.flatnonzero(pattern == PATTERNS.index("striped"))
    if rows.size:
        tone[rows] = np.mod(np.floor(v[rows] / (p / 2)), 2) == 1
    rows = np.flatnonzero(pattern == PATTERNS.index("dotted"))
    if rows.size:
        du, dv = np.mod(u[rows], p) - p / 2, np.mod(v[rows], p) - p / 2
        tone[rows] = du * du + dv * dv <= (0.3 * p) ** 2
    rows = np.flatnonzero(pattern == PATTERNS.index("checkered"))
    if rows.size:
        q = p / 1.6
        tone[rows] = np.mod(np.floor(u[rows] / q) + np.floor(v[rows] / q), 2) == 1
    return tone


def _upsample(grid: np.ndarray, res: int) -> np.ndarray:
    """Bilinear upsampling of ``[N, g, g, C]`` to ``[N, res, res, C]`` (corner-aligned)."""
    g = grid.shape[1]
    pos = np.linspace(0, g - 1, res)
    lo = np.clip(np.floor(pos).astype(np.int64), 0, g - 2)
    w = (pos - lo)[None, :]
    weights = np.zeros((res, g), dtype=np.float32)
    weights[np.arange(res), lo] = 1 - w[0]
    weights[np.arange(res), lo + 1] = w[0]
    return np.einsum("yi,nijc,xj->nyxc", weights, grid, weights, optimize=True)


def _backgrounds(scenes: Scenes, res: int, rng: np.random.Generator) -> np.ndarray:
    n = len(scenes)
    # Every texture is drawn for every scene, so the random stream does not depend on the mix of kinds.
    blotches = rng.uniform(0.0, 1.0, size=(n, 4, 4, 3)).astype(np.float32)
    grain = rng.normal(0.0, 1.0, size=(n, res // 2, res // 2, 1)).astype(np.float32)
    waves = rng.normal(0.0, 1.0, size=(n, 3, 3, 1)).astype(np.float32)
    out = np.repeat(scenes.background.astype(np.float32)[:, None, None, :], res, axis=1).repeat(res, axis=2)
    strength = scenes.bg_strength.astype(np.float32)[:, None, None, None]
    rows = np.flatnonzero(scenes.bg_kind == BG_BLOTCHES)
    if rows.size:
        out[rows] = out[rows] * (1 - strength[rows]) + _upsample(blotches[rows], res) * strength[rows]
    rows = np.flatnonzero(scenes.bg_kind == BG_PAPER)
    if rows.size:
        fine = np.repeat(np.repeat(grain[rows], 2, axis=1), 2, axis=2)
        out[rows] = out[rows] + strength[rows] * (0.6 * fine + _upsample(waves[rows], res))
    return np.clip(out, 0.0, 1.0)


def _clutter(image: np.ndarray, scenes: Scenes, x: np.ndarray, y: np.ndarray, rng: np.random.Generator) -> None:
    """Distractor strokes: thin line segments of random colours, drawn under the object."""
    most = int(scenes.clutter.max(initial=0))
    for k in range(most):
        n = len(scenes)
        p0 = rng.uniform(-1.1, 1.1, size=(n, 2)).astype(np.float32)
        p1 = rng.uniform(-1.1, 1.1, size=(n, 2)).astype(np.float32)
        colour = rng.uniform(0.0, 1.0, size=(n, 3)).astype(np.float32)
        width = rng.uniform(0.05, 0.1, size=n).astype(np.float32)
        active = scenes.clutter > k
        d = p1 - p0
        length2 = np.maximum((d * d).sum(-1), 1e-6)
        px = x[None] - p0[:, 0, None, None]
        py = y[None] - p0[:, 1, None, None]
        t = np.clip((px * d[:, 0, None, None] + py * d[:, 1, None, None]) / length2[:, None, None], 0, 1)
        ex = px - t * d[:, 0, None, None]
        ey = py - t * d[:, 1, None, None]
        on = (ex * ex + ey * ey <= (width[:, None, None] / 2) ** 2) & active[:, None, None]
        image[:] = np.where(on[..., None], colour[:, None, None, :], image)


def render(scenes: Scenes, rng: np.random.Generator, size: int = IMAGE_SIZE, supersample: int = 2) -> np.ndarray:
    """Draw ``scenes`` as ``uint8`` images ``[N, size, size, 3]``; the random texture comes from ``rng``."""
    n, res = len(scenes), size * supersample
    axis = ((np.arange(res, dtype=np.float32) + 0.5) / res * 2 - 1).astype(np.float32)
    x, y = np.meshgrid(axis, axis)  # x: columns, y: rows (downwards)
    dx = x[None] - scenes.cx.astype(np.float32)[:, None, None]
    dy = y[None] - scenes.cy.astype(np.float32)[:, None, None]
    cos = np.cos(scenes.angle).astype(np.float32)[:, None, None]
    sin = np.sin(scenes.angle).astype(np.float32)[:, None, None]
    scale = scenes.scale.astype(np.float32)[:, None, None]
    u = (dx * cos + dy * sin) / scale
    v = (-dx * sin + dy * cos) / scale

    mask = np.zeros((n, res, res), dtype=bool)
    for index, name in enumerate(SHAPES):
        rows = np.flatnonzero((scenes.kind == KIND_SHAPE) & (scenes.ident == index))
        if rows.size:
            mask[rows] = _shape_mask(name, u[rows], v[rows])
    rows = np.flatnonzero(scenes.kind == KIND_GLYPH)
    if rows.size:
        mask[rows] = _glyph_mask(scenes.ident[rows], u[rows], v[rows])

    colour = scenes.colour.astype(np.float32)[:, None, None, :]
    light = colour * 0.25 + 0.75
    tone = _pattern_tone(scenes.pattern, u, v)
    ink = np.where(tone[..., None], light, colour)

    image = _backgrounds(scenes, res, rng)
    _clutter(image, scenes, x, y, rng)
    fade = scenes.fade.astype(np.float32)[:, None, None, None]
    image = np.where(mask[..., None], ink * (1 - fade) + image * fade, image)
    image = image.reshape(n, size, supersample, size, supersample, 3).mean(axis=(2, 4))

    image = image * scenes.tint.astype(np.float32)[:, None, None, :]
    if scenes.blur.any():
        padded = np.pad(image, ((0, 0), (1, 1), (1, 1), (0, 0)), mode="edge")
        box = sum(padded[:, i : i + size, j : j + size] for i in range(3) for j in range(3)) / 9.0
        image = np.where(scenes.blur[:, None, None, None], box, image)
    image = (
        image
        + rng.normal(0.0, 1.0, size=image.shape).astype(np.float32)
        * scenes.noise.astype(np.float32)[:, None, None, None]
    )
    return np.clip(np.rint(image * 255.0), 0, 255).astype(np.uint8)
