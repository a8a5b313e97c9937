"""The generator: deterministic per seed, every concept drawable, captions and descriptions in range."""

from __future__ import annotations

import numpy as np

from hicropl.clip.tokens import Tokenizer
from hicropl.data.toyworld.datasets import TOYWORLD_DATASETS, TOYWORLD_GLYPHS, TOYWORLD_SHAPES
from hicropl.data.toyworld.render import KIND_GLYPH, KIND_SHAPE, render
from hicropl.data.toyworld.styles import CLUTTER, FADED_PRINT, PRETRAIN, sample_scenes
from hicropl.data.toyworld.world import LETTERS, SHAPES
from hicropl.toyworld.pretrain import TOYWORLD_CLIP_CONFIG, PretrainSettings, batch_at, sample_pool

CONTEXT = TOYWORLD_CLIP_CONFIG["text_cfg"]["context_length"]


def _scenes(seed: int, style=PRETRAIN):
    rng = np.random.default_rng(seed)
    kind = np.array([KIND_SHAPE] * len(SHAPES) + [KIND_GLYPH] * len(LETTERS))
    ident = np.concatenate([np.arange(len(SHAPES)), np.arange(len(LETTERS))])
    colour = np.arange(len(kind)) % 8
    pattern = np.arange(len(kind)) % 4
    scenes, _ = sample_scenes(rng, style, kind, ident, colour, pattern)
    return scenes, rng


def test_render_is_deterministic_per_seed() -> None:
    for style in (PRETRAIN, CLUTTER, FADED_PRINT):
        a = render(*_scenes(0, style))
        b = render(*_scenes(0, style))
        c = render(*_scenes(1, style))
        assert a.dtype == np.uint8 and a.shape == (len(SHAPES) + len(LETTERS), 32, 32, 3)
        assert np.array_equal(a, b)
        assert not np.array_equal(a, c)


def test_every_concept_leaves_a_visible_object() -> None:
    scenes, rng = _scenes(3)
    scenes.noise[:] = 0
    scenes.bg_kind[:] = 0
    scenes.clutter[:] = 0
    images = render(scenes, rng).astype(np.int32)
    background = np.rint(scenes.background * scenes.tint * 255)[:, None, None, :]
    changed = (np.abs(images - background).max(axis=-1) > 40).mean(axis=(1, 2))
    assert changed.min() > 0.03, changed  # every shape and every letter covers part of the image


def test_dataset_splits_are_deterministic_and_labelled() -> None:
    images, labels = TOYWORLD_GLYPHS.render_split("val", per_class=1)
    again, _ = TOYWORLD_GLYPHS.render_split("val", per_class=1)
    assert np.array_equal(images, again)
    assert labels.tolist() == list(range(TOYWORLD_GLYPHS.num_classes))


def test_classes_and_descriptions() -> None:
    tokenizer = Tokenizer(CONTEXT)
    for dataset in TOYWORLD_DATASETS:
        names = dataset.classnames
        assert len(names) == len(set(names)) == dataset.num_classes == 80
        descriptions = dataset.descriptions()
        assert list(descriptions) == names
        for name, sentences in descriptions.items():
            assert len(sentences) >= 5 and all(name.split()[0] in s for s in sentences)
            assert max(tokenizer.count(s) for s in sentences) + 2 <= CONTEXT
    # Base and novel halves hold different shapes (letters) in the same colours.
    half = TOYWORLD_SHAPES.num_classes // 2
    base, novel = TOYWORLD_SHAPES.classnames[:half], TOYWORLD_SHAPES.classnames[half:]
    assert {n.split()[-1] for n in base}.isdisjoint({n.split()[-1] for n in novel})
    assert {n.split()[0] for n in base} == {n.split()[0] for n in novel}


def test_pretraining_batches_depend_only_on_seed_and_step() -> None:
    settings = PretrainSettings(steps=10, batch_size=8, pool_size=16)
    pool = sample_pool(0, 16)
    assert np.array_equal(pool.images, sample_pool(0, 16).images)
    first = batch_at(pool, settings, 5)
    assert np.array_equal(first[0], batch_at(pool, settings, 5)[0]) and first[1] == batch_at(pool, settings, 5)[1]
    assert first[1] != batch_at(pool, settings, 6)[1]
    tokenizer = Tokenizer(CONTEXT)
    assert max(tokenizer.count(c) for c in first[1]) + 2 <= CONTEXT
