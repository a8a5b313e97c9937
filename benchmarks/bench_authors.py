"""The authors' HiCroPL code, timed at the shapes of ``bench_step.py``, for back-to-back comparisons.

    git clone https://github.com/zzeoZheng/HiCroPL /tmp/HiCroPL
    python benchmarks/bench_authors.py --authors-repo /tmp/HiCroPL --json benchmarks/results/bench_authors_cpu.json

Nothing of the authors' code ships with hicropl. This script copies ``trainers/hicropl.py``,
``trainers/imagenet_templates.py`` and ``clip/`` from the checkout you name into a temporary folder
and changes only what a CPU fp32 run needs (each change must match exactly, or the script stops):

* ``.cuda()`` on the frozen CLIP that encodes the descriptions is dropped;
* the frozen image tower is cast back to fp32 (``build_model`` leaves it in fp16);
* the ``.half()`` casts of the prompts and of the description embeddings are dropped.

Dassl is not needed: the three names the module imports from it are stand-ins that are never called.
The CLIP is a random ViT-B/16 (same construction and seed as ``bench_step.py``) saved in OpenAI's
state-dict format, which the authors' ``clip._download`` is pointed at. The training step follows
Dassl's order (forward, zero_grad, backward, Adam step); evaluation is ``model.eval()`` on a batch of
``--eval-batch`` images, which recomputes the class text features for every batch as their code does.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import types
from pathlib import Path

import torch

from timing import timed

# (file, old, new, expected count): the CPU/fp32 changes, nothing else.
PATCHES = [
    ("trainers/hicropl.py", "load_clip_to_cpu(cfg, True).float().cuda()", "load_clip_to_cpu(cfg, True).float()", 1),
    (
        "trainers/hicropl.py",
        "clip_model_temp_image = load_clip_to_cpu_teacher(cfg, True)\n",
        "clip_model_temp_image = load_clip_to_cpu_teacher(cfg, True).float()\n",
        1,
    ),
    ("trainers/hicropl.py", "self.prompt_learner.fixed_embeddings.half()", "self.prompt_learner.fixed_embeddings", 1),
    ("clip/model.py", ".permute(1, 0, 2).half()", ".permute(1, 0, 2)", 6),
    (
        "clip/model.py",
        "visual_ctx = img_prompts.expand(x.shape[0], -1, -1).half()",
        "visual_ctx = img_prompts.expand(x.shape[0], -1, -1)",
        1,
    ),
]


_WRITE_WEIGHTS = """
import copy, sys, torch
from hicropl.clip.random import VIT_B16_CONFIG, random_clip
config = copy.deepcopy(VIT_B16_CONFIG)
config["vision_cfg"]["image_size"] = int(sys.argv[2])
torch.save(random_clip(config, seed=0).model.state_dict(), sys.argv[1])
"""


def _check_checkout(repo: Path) -> None:
    needed = [repo / "trainers" / "hicropl.py", repo / "trainers" / "imagenet_templates.py", repo / "clip" / "model.py"]
    missing = [str(path) for path in needed if not path.is_file()]
    if missing:
        raise SystemExit(
            f"--authors-repo {repo} is not a checkout of github.com/zzeoZheng/HiCroPL (missing {', '.join(missing)})"
        )


def _prepare(repo: Path, work: Path) -> str:
    for relative in ("trainers/hicropl.py", "trainers/imagenet_templates.py"):
        (work / "trainers").mkdir(parents=True, exist_ok=True)
        shutil.copy(repo / relative, work / relative)
    (work / "trainers" / "__init__.py").write_text("")
    shutil.copytree(repo / "clip", work / "clip", ignore=shutil.ignore_patterns("__pycache__"))
    for relative, old, new, count in PATCHES:
        path = work / relative
        text = path.read_text()
        found = text.count(old)
        if found != count:
            raise SystemExit(f"{relative}: expected {count} occurrence(s) of {old!r}, found {found}; other commit?")
        path.write_text(text.replace(old, new))
    try:
        commit = subprocess.run(
            ["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        commit = "unknown"
    return commit


def _stub_dassl() -> None:
    def unused(*_args, **_kwargs):
        raise RuntimeError("Dassl stand-in called; the benchmark does not use the trainer class")

    registry = types.SimpleNamespace(register=lambda *a, **k: lambda cls: cls)
    modules = {
        "dassl": {},
        "dassl.engine": {"TRAINER_REGISTRY": registry, "TrainerX": object},
        "dassl.utils": {"load_pretrained_weights": unused, "load_checkpoint": unused},
        "dassl.optim": {"build_optimizer": unused, "build_lr_scheduler": unused},
    }
    for name, attributes in modules.items():
        module = types.ModuleType(name)
        module.__dict__.update(attributes)
        sys.modules[name] = module


def _cfg(args: argparse.Namespace) -> types.SimpleNamespace:
    ns = types.SimpleNamespace
    hicropl = ns(
        N_CTX=args.n_ctx,
        CTX_INIT="",
        PROMPT_DEPTH=args.depth,
        CROSS_LAYER=args.boundary,
        PREC="fp32",
        TEACHER_NAME="ViT-B/16",
        LAMBD=12.0,
    )
    return ns(
        TRAINER=ns(HICROPL=hicropl, IVLP=ns(PREC="fp32")),
        INPUT=ns(SIZE=(args.image, args.image)),
        MODEL=ns(BACKBONE=ns(NAME="ViT-B/16"), INIT_WEIGHTS=""),
        DATASET=ns(NAME="Caltech101"),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--authors-repo", type=Path, required=True, help="a checkout of zzeoZheng/HiCroPL")
    parser.add_argument("--classes", type=int, default=50)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--eval-batch", type=int, default=16)
    parser.add_argument("--n-ctx", type=int, default=16)
    parser.add_argument("--depth", type=int, default=12)
    parser.add_argument("--boundary", type=int, default=6)
    parser.add_argument("--image", type=int, default=224)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--commit", default=None, help="record this commit when the checkout has no .git")
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    json_path = Path(args.json).resolve() if args.json else None
    _check_checkout(args.authors_repo.resolve())
    work = Path(tempfile.mkdtemp(prefix="hicropl-authors-"))
    commit = _prepare(args.authors_repo.resolve(), work)
    _stub_dassl()

    names = [f"class number {i}" for i in range(args.classes)]
    (work / "gpt_file").mkdir()
    descriptions = {n: [f"a photo of a {n}.", f"a {n} in the wild."] for n in names}
    (work / "gpt_file" / "caltech_prompt.json").write_text(json.dumps(descriptions))
    weights = work / "ViT-B-16-random.pt"
    # Built in a child process: this process's peak memory must be the authors' code alone (it does
    # not import hicropl or open_clip either).
    subprocess.run([sys.executable, "-c", _WRITE_WEIGHTS, str(weights), str(args.image)], check=True)

    os.chdir(work)
    sys.path.insert(0, str(work))
    clip_module = importlib.import_module("clip.clip")
    clip_module._download = lambda *_a, **_k: str(weights)
    trainer = importlib.import_module("trainers.hicropl")
    cfg = _cfg(args)
    clip_model = trainer.load_clip_to_cpu(cfg).float()
    model = trainer.CustomCLIP(cfg, names, clip_model)
    for name, param in model.named_parameters():  # the authors' freezing rule
        param.requires_grad_("prompt_learner" in name and "ZS_image_encoder" not in name)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.Adam(params, lr=0.0025, eps=1e-3, weight_decay=5e-4, foreach=False)

    gen = torch.Generator().manual_seed(0)
    images = torch.randn(args.batch, 3, args.image, args.image, generator=gen)
    labels = torch.randint(args.classes, (args.batch,), generator=gen)
    eval_images = torch.randn(args.eval_batch, 3, args.image, args.image, generator=gen)

    def train_step() -> None:  # Dassl's TrainerX order
        model.train()
        loss = model(images, labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    step_times = timed(train_step, args.warmup, args.reps)
    learner = model.prompt_learner

    def frozen_image() -> None:
        with torch.no_grad():
            learner.ZS_image_encoder(images)

    def prompted_image() -> None:
        _, visual_ctx, _, visual_deeper = learner()
        model.image_encoder(images, visual_ctx, visual_deeper).sum().backward()

    def text() -> None:
        text_input, _, text_deeper, _ = learner()
        model.text_encoder(text_input, model.tokenized_prompts, text_deeper).sum().backward()

    components = {
        "frozen_image_forward": statistics.median(timed(frozen_image, 1, args.reps)),
        "prompted_image_forward_backward": statistics.median(timed(prompted_image, 1, args.reps)),
        "text_forward_backward": statistics.median(timed(text, 1, args.reps)),
    }
    optimizer.zero_grad()

    def evaluate() -> None:
        model.eval()
        with torch.no_grad():
            model(eval_images)

    eval_times = timed(evaluate, 1, args.reps)
    result = {
        "train_step_s": {"min": min(step_times), "median": statistics.median(step_times)},
        "components_s": components,
        "eval_images_per_s": {
            "best": args.eval_batch / min(eval_times),
            "median": args.eval_batch / statistics.median(eval_times),
        },
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "trainable_parameters": sum(p.numel() for p in params),
        "setup": {
            **{k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items() if k != "json"},
            "authors_commit": args.commit or commit,
            "patches": [f"{relative}: {old!r} -> {new!r}" for relative, old, new, _ in PATCHES],
            "torch": torch.__version__,
            "machine": platform.machine(),
            "date": time.strftime("%Y-%m-%d"),
        },
    }
    print(json.dumps(result, indent=2))
    if json_path is not None:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(json.dumps(result, indent=2))
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
