"""Contrastive pretraining of the tiny ToyWorld CLIP (``hicropl toyworld pretrain``).

The model is an ordinary open_clip ``CLIP`` (QuickGELU, 64-wide heads, so ``load_clip`` rebuilds it
from the weights alone). Training data is a pool of rendered pretraining scenes, fixed by the seed;
every step draws its batch and fresh captions from ``(seed, step)`` alone, so an interrupted run that
resumes from its last checkpoint continues exactly as if it had never stopped. Checkpoints are
written atomically every ``checkpoint_every`` steps (and on Ctrl-C); the final weights are exported
as fp16 safetensors.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from open_clip.model import CLIP

from hicropl.atomic import atomic_torch_save, atomic_write_bytes, atomic_write_text
from hicropl.data.toyworld.render import KIND_GLYPH, KIND_SHAPE, render
from hicropl.data.toyworld.styles import PRETRAIN, sample_scenes
from hicropl.data.toyworld.text import captions
from hicropl.data.toyworld.world import COLOUR_NAMES, LETTERS, PATTERNS, SHAPES
from hicropl.errors import CheckpointError, ConfigError
from hicropl.toyworld.pretrain_settings import PretrainSettings as PretrainSettings

log = logging.getLogger("hicropl.toyworld")

# The shipped model's architecture: 64-wide heads (what load_clip assumes), a 32-token context.
TOYWORLD_CLIP_CONFIG: dict[str, Any] = {
    "embed_dim": 64,
    "vision_cfg": {"image_size": 32, "layers": 4, "width": 128, "patch_size": 8, "head_width": 64},
    "text_cfg": {"context_length": 32, "vocab_size": 49408, "width": 64, "heads": 1, "layers": 4},
}
CHECKPOINT_NAME = "pretrain_checkpoint.pt"
WEIGHTS_NAME = "toyworld_clip.safetensors"
RECORD_NAME = "pretrain.json"
_CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
_CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


@dataclass
class Pool:
    """Rendered pretraining images (``uint8 [N, 32, 32, 3]``) and the attributes their captions name."""

    images: np.ndarray
    attributes: dict[str, np.ndarray]

    def __len__(self) -> int:
        return len(self.images)


def sample_pool(seed: int, size: int, glyph_fraction: float = 0.4, chunk: int = 1024) -> Pool:
    """The pretraining pool of ``seed``; each chunk has its own generator, so chunks are independent."""
    images, attrs = [], []
    for start in range(0, size, chunk):
        n = min(chunk, size - start)
        rng = np.random.default_rng([seed, 0, start])
        kind = np.where(rng.random(n) < glyph_fraction, KIND_GLYPH, KIND_SHAPE)
        ident = np.where(kind == KIND_SHAPE, rng.integers(0, len(SHAPES), n), rng.integers(0, len(LETTERS), n))
        colour = rng.integers(0, len(COLOUR_NAMES), n)
        pattern = rng.integers(0, len(PATTERNS), n)
        scenes, bg_word = sample_scenes(rng, PRETRAIN, kind, ident, colour, pattern)
        images.append(render(scenes, rng))
        attrs.append(
            {
                "kind": kind,
                "ident": ident,
                "colour": colour,
                "pattern": scenes.pattern,
                "scale": scenes.scale,
                "cx": scenes.cx,
                "cy": scenes.cy,
                "bg_word": bg_word,
            }
        )
    merged = {key: np.concatenate([a[key] for a in attrs]) for key in attrs[0]}
    return Pool(np.concatenate(images), merged)


def images_to_tensor(images: np.ndarray) -> torch.Tensor:
    """``uint8 [N, H, W, 3]`` -> CLIP-normalised ``float [N, 3, H, W]`` (what the test transform gives)."""
    x = torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).float() / 255.0
    mean = torch.tensor(_CLIP_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(_CLIP_STD).view(1, 3, 1, 1)
    return (x - mean) / std


def batch_at(pool: Pool, settings: PretrainSettings, step: int) -> tuple[np.ndarray, list[str]]:
    """The batch of ``step``: indices and fresh captions drawn from ``(seed, step)`` only."""
    rng = np.random.default_rng([settings.seed, 1, step])
    index = rng.choice(len(pool), size=settings.batch_size, replace=False)
    a = {key: value[index] for key, value in pool.attributes.items()}
    texts = captions(rng, a["kind"], a["ident"], a["colour"], a["pattern"], a["scale"], a["cx"], a["cy"], a["bg_word"])
    return index, texts


def build_model(seed: int) -> CLIP:
    from hicropl.clip.load import build_clip_from_config

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return build_clip_from_config(TOYWORLD_CLIP_CONFIG, quick_gelu=True)


def _optimizer(model: torch.nn.Module, settings: PretrainSettings) -> torch.optim.Optimizer:
    decay: list[torch.nn.Parameter] = []
    no_decay: list[torch.nn.Parameter] = []
    for name, param in model.named_parameters():
        plain = param.ndim < 2 or "embedding" in name or "logit_scale" in name or name.endswith("class_embedding")
        (no_decay if plain else decay).append(param)
    groups = [
        {"params": decay, "weight_decay": settings.weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]
    return torch.optim.AdamW(groups, lr=settings.lr, betas=(0.9, 0.98), eps=1e-6)


def lr_at(step: int, settings: PretrainSettings) -> float:
    if step < settings.warmup:
        return settings.lr * (step + 1) / settings.warmup
    progress = (step - settings.warmup) / max(1, settings.steps - settings.warmup)
    return 0.5 * settings.lr * (1 + math.cos(math.pi * min(1.0, progress)))


def contrastive_loss(model: CLIP, images: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
    image = F.normalize(model.encode_image(images), dim=-1)
    text = F.normalize(model.encode_text(tokens), dim=-1)
    logits = model.logit_scale.exp().clamp(max=100) * image @ text.t()
    labels = torch.arange(len(images))
    return (F.cross_entropy(logits, labels) + F.cross_entropy(logits.t(), labels)) / 2


def vocabulary_tokens() -> list[int]:
    """Every BPE token id that ToyWorld text can contain (pretraining captions, class names, descriptions)."""
    from hicropl.clip.tokens import Tokenizer
    from hicropl.data.toyworld.text import _PREFIXES
    from hicropl.data.toyworld.world import BACKGROUNDS, PATTERN_PHRASES, PATTERN_WORDS, SHAPE_PHRASES

    words = [*COLOUR_NAMES, *SHAPES, *LETTERS, *BACKGROUNDS, "small", "medium", "large", "x"]
    words += [w for ws in PATTERN_WORDS.values() for w in ws] + list(PATTERN_PHRASES.values())
    words += [p for ps in SHAPE_PHRASES.values() for p in ps] + list(_PREFIXES)
    words += ["the letter in glyph of on a background", "in the center on the left right at the top bottom", "."]
    tokenizer = Tokenizer(int(TOYWORLD_CLIP_CONFIG["text_cfg"]["context_length"]))
    ids = {tokenizer.sot_token_id, tokenizer.eot_token_id}
    for text in words:
        ids.update(tokenizer.encode(text))
        ids.update(tokenizer.encode(f"{text}."))
    return sorted(ids)


def export_weights(model: torch.nn.Module, path: Path) -> str:
    """Save fp16 safetensors; token embeddings of words ToyWorld never uses are zeroed (they compress away)."""
    from safetensors.torch import save

    from hicropl.clip.weights_file import file_sha256

    state = {k: v.detach().to(torch.float16).contiguous().clone() for k, v in model.state_dict().items()}
    keep = torch.zeros(state["token_embedding.weight"].shape[0], dtype=torch.bool)
    keep[vocabulary_tokens()] = True
    state["token_embedding.weight"][~keep] = 0
    state.pop("attn_mask", None)
    atomic_write_bytes(path, save(state, metadata={"format": "pt", "model": "toyworld-tiny-clip"}))
    return file_sha256(path)


def _load_resume(path: Path, settings: PretrainSettings) -> dict[str, Any] | None:
    if not path.is_file():
        return None
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise CheckpointError(
            f"The pretraining checkpoint {path} could not be read ({type(exc).__name__}); delete it to start over."
        ) from exc
    saved = checkpoint.get("settings")
    if saved != asdict(settings):
        raise CheckpointError(
            f"{path} holds a pretraining run with other settings ({saved}); rerun with those settings to resume it, "
            "or choose another output folder."
        )
    return checkpoint


def pretrain(
    output: str | Path,
    steps: int = PretrainSettings.steps,
    seed: int = PretrainSettings.seed,
    *,
    batch_size: int = PretrainSettings.batch_size,
    pool_size: int = PretrainSettings.pool_size,
    lr: float = PretrainSettings.lr,
    checkpoint_every: int = 250,
    progress: bool = True,
    on_step: Callable[[int, float], None] | None = None,
) -> Path:
    """Pretrain the tiny ToyWorld CLIP into ``output/`` and return the exported weights file.

    Resumes from ``output/pretrain_checkpoint.pt`` when it exists (same settings required). Writes
    ``toyworld_clip.safetensors`` (fp16) and ``pretrain.json`` (settings, sha256, loss curve).
    ``on_step(step, loss)`` is called after every optimiser step (after any checkpoint of that step).
    """
    settings = PretrainSettings(steps=steps, seed=seed, batch_size=batch_size, pool_size=pool_size, lr=lr)
    folder = Path(output).expanduser()
    if folder.exists() and not folder.is_dir():
        raise ConfigError(f"--output {folder} is a file; pass a folder for the checkpoint and the weights.")
    folder.mkdir(parents=True, exist_ok=True)
    checkpoint_path = folder / CHECKPOINT_NAME
    resume = _load_resume(checkpoint_path, settings)

    model = build_model(seed)
    optimizer = _optimizer(model, settings)
    start, history = 0, []
    if resume is not None:
        model.load_state_dict(resume["model"])
        optimizer.load_state_dict(resume["optimizer"])
        start, history = int(resume["step"]), list(resume["history"])
        log.info("Resuming pretraining at step %d of %d", start, steps)
    if start >= steps and (folder / WEIGHTS_NAME).is_file():
        return folder / WEIGHTS_NAME

    def save(step: int) -> None:
        state = {
            "model": model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "step": step,
            "history": history,
            "settings": asdict(settings),
        }
        atomic_torch_save(state, checkpoint_path)

    t0 = time.time()
    pool = sample_pool(seed, pool_size, settings.glyph_fraction)
    log.info("Rendered %d pretraining scenes in %.1f s", len(pool), time.time() - t0)
    from hicropl.clip.tokens import Tokenizer

    tokenizer = Tokenizer(int(TOYWORLD_CLIP_CONFIG["text_cfg"]["context_length"]))
    from tqdm.auto import tqdm

    bar = tqdm(total=steps, initial=start, desc="pretrain", disable=not progress, unit="step")
    model.train()
    step = start
    running = history[-1][1] if history else float("nan")
    try:
        for step in range(start, steps):
            index, texts = batch_at(pool, settings, step)
            images = images_to_tensor(pool.images[index])
            tokens = tokenizer(texts)
            for group in optimizer.param_groups:
                group["lr"] = lr_at(step, settings)
            loss = contrastive_loss(model, images, tokens)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            with torch.no_grad():
                model.logit_scale.clamp_(0, math.log(100))
            value = float(loss.detach())
            running = value if math.isnan(running) else 0.98 * running + 0.02 * value
            if (step + 1) % 50 == 0 or step + 1 == steps:
                history.append([step + 1, round(running, 4)])
            if (step + 1) % checkpoint_every == 0 and step + 1 < steps:
                save(step + 1)
            bar.update(1)
            bar.set_postfix(loss=f"{running:.3f}")
            if on_step is not None:
                on_step(step + 1, value)
    except KeyboardInterrupt:
        bar.close()
        log.warning("Interrupted: the last checkpoint (%s) lets the same command resume.", checkpoint_path)
        raise
    bar.close()
    save(steps)
    model.eval()
    weights = folder / WEIGHTS_NAME
    digest = export_weights(model, weights)
    record = {
        "settings": asdict(settings),
        "config": TOYWORLD_CLIP_CONFIG,
        "weights": WEIGHTS_NAME,
        "sha256": digest,
        "final_loss": history[-1][1] if history else None,
        "loss_history": history,
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
    }
    atomic_write_text(folder / RECORD_NAME, json.dumps(record, indent=2) + "\n")
    return weights
