"""A method's authors' trainer, timed at the shapes of ``bench_step.py --method NAME``, back to back.

    git clone https://github.com/KaiyangZhou/CoOp /tmp/CoOp
    python benchmarks/bench_authors.py --method coop --repo /tmp/CoOp --json coop_authors.json

Methods and repositories (:mod:`authors_specs`, with the commit each reference trace was made from):
CoOp and CoCoOp (KaiyangZhou/CoOp), KgCoOp (htyao89/KgCoOp), TCP
(htyao89/Textual-based_Class-aware_prompt_tuning), MaPLe and IVLP
(muzairkhattak/multimodal-prompt-learning), PromptSRC (muzairkhattak/PromptSRC), MMA
(ZjjConan/Multi-Modal-Adapter), CoPrompt (ShuvenduRoy/CoPrompt), HiCroPL (zzeoZheng/HiCroPL).

Nothing of the authors' code ships with hicropl. The trainer file, the files it imports and ``clip/``
are copied from the checkout you name into a temporary folder, and only the CPU/fp32 patches of
:mod:`authors_specs` are applied (each must match its expected count, or the script stops). Dassl is
replaced by the stand-ins of :mod:`authors_dassl`; the trainer's own ``build_model`` builds the
model, optimiser and frozen features, and its own ``forward_backward`` is the timed training step.
The CLIP is a random ViT-B/16 (same construction and seed as ``bench_step.py``) saved in OpenAI's
state-dict format, which the authors' ``clip._download`` is pointed at; it is built in a child
process so that this process's peak memory is the authors' code alone (it imports neither hicropl
nor open_clip). Evaluation is the trainer's ``model_inference`` in eval mode on ``--eval-batch``
images, which recomputes whatever the authors' code recomputes per batch.
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
from typing import Any

import torch

import authors_dassl
from authors_specs import SPECS, AuthorsSpec
from timing import timed

_WRITE_WEIGHTS = """
import copy, sys, torch
from hicropl.clip.random import VIT_B16_CONFIG, random_clip
config = copy.deepcopy(VIT_B16_CONFIG)
config["vision_cfg"]["image_size"] = int(sys.argv[2])
torch.save(random_clip(config, seed=0).model.state_dict(), sys.argv[1])
"""


def _namespace(value: Any) -> Any:
    if isinstance(value, dict):
        return types.SimpleNamespace(**{key: _namespace(item) for key, item in value.items()})
    return value


def _with_precision(section: Any, precision: str) -> Any:
    if not isinstance(section, dict):
        return section
    return {key: precision if key == "PREC" else _with_precision(value, precision) for key, value in section.items()}


def _cfg(spec: AuthorsSpec, args: argparse.Namespace) -> Any:
    trainer = _with_precision(spec.trainer_config, args.precision)
    if args.method == "hicropl":  # the shapes bench_step.py's --n-ctx/--depth/--boundary give the library
        section = dict(trainer["HICROPL"])
        section.update(N_CTX=args.n_ctx, PROMPT_DEPTH=args.depth, CROSS_LAYER=args.boundary)
        trainer["HICROPL"] = section
    return _namespace(
        {
            "TRAINER": trainer,
            "OPTIM": spec.optim,
            "INPUT": {"SIZE": (args.image, args.image)},
            "MODEL": {"BACKBONE": {"NAME": "ViT-B/16"}, "INIT_WEIGHTS": ""},
            "DATASET": {"NAME": spec.dataset, "SUBSAMPLE_CLASSES": "all", "NUM_SHOTS": 16},
        }
    )


def _copy(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    if source.is_dir():
        shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__"))
    else:
        shutil.copy(source, target)


def prepare(spec: AuthorsSpec, repo: Path, work: Path, patch: bool) -> str:
    """Copy (and with ``patch``, patch) the authors' files into ``work``; returns the checkout's commit."""
    root = repo / spec.code_root if spec.code_root else repo
    needed = [spec.trainer_file, "clip", *spec.extra_files]
    missing = [name for name in needed if not (root / name).exists()]
    if missing:
        raise SystemExit(f"--repo {repo} is not a checkout of github.com/{spec.repository} (missing {missing})")
    for name in needed:
        _copy(root / name, work / name)
    (work / "trainers" / "__init__.py").write_text("")
    for relative, old, new, count in spec.patches if patch else ():
        path = work / relative
        text = path.read_text()
        found = text.count(old)
        if found != count:
            raise SystemExit(f"{relative}: expected {count} occurrence(s) of {old!r}, found {found}; other commit?")
        path.write_text(text.replace(old, new))
    try:
        return subprocess.run(
            ["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def _stand_in_pkg_resources() -> None:
    """OpenAI's clip.py imports ``packaging`` through setuptools' ``pkg_resources`` (gone from recent
    setuptools); give it the ``packaging`` module itself when ``pkg_resources`` is missing."""
    try:
        importlib.import_module("pkg_resources")
    except ImportError:
        import packaging.version

        sys.modules["pkg_resources"] = types.SimpleNamespace(packaging=packaging)  # type: ignore[assignment]


def _stand_in_scipy() -> None:
    """TCP's trainer imports ``scipy.io`` and ``scipy.optimize.linear_sum_assignment`` and uses neither;
    without scipy installed, modules whose names raise when called stand in for them."""
    try:
        importlib.import_module("scipy.optimize")
    except ImportError:

        def attribute(name: str) -> Any:
            if name.startswith("__"):
                raise AttributeError(name)
            return authors_dassl.unused

        for name in ("scipy", "scipy.io", "scipy.optimize"):
            module = types.ModuleType(name)
            module.__getattr__ = attribute  # type: ignore[method-assign]
            sys.modules[name] = module


def _point_clip_at(weights: Path) -> None:
    """Every copy of OpenAI's clip module the trainer imports loads the random weights."""
    for name in ("clip.clip", "trainers.clip_text.clip"):
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError:
            continue
        module._download = lambda *_a, **_k: str(weights)


def _hicropl_components(model: Any, images: torch.Tensor, reps: int) -> dict[str, float]:
    """HiCroPL's three parts, as the issue's cost table splits them."""
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

    return {
        "frozen_image_forward": statistics.median(timed(frozen_image, 1, reps)),
        "prompted_image_forward_backward": statistics.median(timed(prompted_image, 1, reps)),
        "text_forward_backward": statistics.median(timed(text, 1, reps)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--method", choices=sorted(SPECS), default="hicropl")
    parser.add_argument("--repo", "--authors-repo", dest="repo", type=Path, required=True, help="the authors' checkout")
    parser.add_argument("--classes", type=int, default=50)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--eval-batch", type=int, default=16)
    parser.add_argument("--n-ctx", type=int, default=16, help="HiCroPL only (others: published sizes)")
    parser.add_argument("--depth", type=int, default=12, help="HiCroPL only")
    parser.add_argument("--boundary", type=int, default=6, help="HiCroPL only")
    parser.add_argument("--image", type=int, default=224)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument(
        "--device",
        default="cpu",
        help="cpu (patched to fp32) or cuda: the authors' code as published, in --precision fp16 (their PREC)",
    )
    parser.add_argument("--precision", choices=["fp32", "fp16", "amp"], default=None, help="default: fp32 on cpu")
    parser.add_argument("--commit", default=None, help="record this commit when the checkout has no .git")
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    if args.precision is None:
        args.precision = "fp16" if device.type == "cuda" else "fp32"
    if device.type == "cpu" and args.precision != "fp32":
        raise SystemExit("on the CPU the authors' code runs patched to fp32 only")
    spec = SPECS[args.method]
    json_path = Path(args.json).resolve() if args.json else None
    work = Path(tempfile.mkdtemp(prefix=f"hicropl-authors-{args.method}-"))
    commit = prepare(spec, args.repo.resolve(), work, patch=device.type == "cpu")
    authors_dassl.install(device)
    _stand_in_pkg_resources()
    _stand_in_scipy()

    names = [f"class number {i}" for i in range(args.classes)]
    if spec.descriptions_file:
        descriptions = {n: [f"a photo of a {n}.", f"a {n} in the wild."] for n in names}
        (work / spec.descriptions_file).parent.mkdir(parents=True, exist_ok=True)
        (work / spec.descriptions_file).write_text(json.dumps(descriptions))
    weights = work / "ViT-B-16-random.pt"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).resolve().parents[1] / "src"), *sys.path])}
    subprocess.run([sys.executable, "-c", _WRITE_WEIGHTS, str(weights), str(args.image)], check=True, env=env)

    os.chdir(work)
    sys.path.insert(0, str(work))
    module_name = spec.trainer_file.removesuffix(".py").replace("/", ".")
    importlib.import_module("clip.clip")
    trainer_module = importlib.import_module(module_name)
    _point_clip_at(weights)
    trainer = getattr(trainer_module, spec.trainer_class)(_cfg(spec, args), names)
    params = [p for p in trainer.model.parameters() if p.requires_grad]

    gen = torch.Generator().manual_seed(0)
    images = torch.randn(args.batch, 3, args.image, args.image, generator=gen).to(device)
    labels = torch.randint(args.classes, (args.batch,), generator=gen).to(device)
    eval_images = torch.randn(args.eval_batch, 3, args.image, args.image, generator=gen).to(device)
    batch = {"img": [images, images.flip(-1)] if spec.two_views else images, "label": labels}
    losses: list[float] = []

    def train_step() -> None:  # one Dassl run_epoch iteration
        trainer.set_model_mode("train")
        losses.append(float(trainer.forward_backward(batch)["loss"]))

    step_times = timed(train_step, args.warmup, args.reps)
    if not all(map(lambda loss: loss == loss and abs(loss) != float("inf"), losses)):
        raise SystemExit(f"{args.method}: the authors' training step gave a non-finite loss {losses}")
    components = _hicropl_components(trainer.model, images, args.reps) if args.method == "hicropl" else None
    for optimizer in trainer._optims.values():
        if optimizer is not None:
            optimizer.zero_grad()

    def evaluate() -> None:
        trainer.set_model_mode("eval")
        with torch.no_grad():
            trainer.model_inference(eval_images)

    eval_times = timed(evaluate, 1, args.reps)
    result: dict[str, Any] = {
        "method": args.method,
        "train_step_s": {"min": min(step_times), "median": statistics.median(step_times)},
        "train_images_per_s": args.batch / statistics.median(step_times),
        "eval_images_per_s": {
            "best": args.eval_batch / min(eval_times),
            "median": args.eval_batch / statistics.median(eval_times),
        },
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "trainable_parameters": sum(p.numel() for p in params),
        "losses": losses,
        "setup": {
            **{k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items() if k != "json"},
            "repository": spec.repository,
            "authors_commit": args.commit or commit,
            "trace_commit": spec.commit,
            "trainer": f"{spec.trainer_file}:{spec.trainer_class}",
            "optimizer": spec.optim,
            "published_batch": spec.published_batch,
            "patches": [f"{relative}: {old!r} -> {new!r}" for relative, old, new, _ in spec.patches]
            if device.type == "cpu"
            else [],
            "torch": torch.__version__,
            "machine": platform.machine(),
            "date": time.strftime("%Y-%m-%d"),
        },
    }
    if components is not None:
        result["components_s"] = components
    if device.type == "cuda":
        result["peak_gpu_mib"] = torch.cuda.max_memory_allocated(device) / 2**20
    print(json.dumps(result, indent=2))
    if json_path is not None:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(json.dumps(result, indent=2))
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
