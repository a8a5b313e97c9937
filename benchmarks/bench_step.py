"""Speed and memory of a method (default HiCroPL, ``paper`` variant) on a random CLIP of given shapes.

Defaults are the shapes of the authors' cost table: ViT-B/16 (vision 768/12 layers/224 px/patch 16,
text 512/12 layers), 50 classes, training batch 4, fp32. HiCroPL runs with m=16, D=12, k=6 (``--n-ctx``,
``--depth``, ``--boundary``); every other ``--method`` with its published prompt sizes (its config
defaults), the shapes ``bench_authors.py --method NAME`` gives the authors' code.

    python benchmarks/bench_step.py --json benchmarks/results/bench_step_cpu.json
    python benchmarks/bench_step.py --method maple --skip-naive --json maple.json
    python benchmarks/bench_step.py --precision bf16 --skip-naive --json bf16.json

``--precision bf16`` runs the training step and evaluation under the library's single autocast
(``hicropl.precision``), on the CPU as on a GPU.

``naive`` repeats the figures in the same process with shared-prefix encoding, text truncation,
image query pruning, the fused QuickGELU MLP and per-evaluation class-feature caching switched off.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import statistics
import time
from collections.abc import Callable

import torch
from torch.utils.flop_counter import FlopCounterMode

from hicropl.clip.encoders import ImagePrompts, TextPrompts
from hicropl.clip.random import random_clip
from hicropl.engine.host_allocator import tune_host_allocator_for
from hicropl.methods import ClassSet, build_method
from hicropl.precision import autocast
from timing import timed

# Methods whose training step is timed (the zero-shot and linear-probe baselines have none).
TRAINED_METHODS = ("hicropl", "coop", "cocoop", "kgcoop", "tcp", "maple", "ivlp", "promptsrc", "mma", "coprompt")


def _flops(fn: Callable[[], object]) -> int:
    with FlopCounterMode(display=False) as counter:
        fn()
    return int(counter.get_total_flops())


def _eval_flops(method, images: torch.Tensor, naive: bool) -> int:
    """FLOPs of one evaluation batch; without ``naive`` the once-per-evaluation class features are excluded."""
    if naive:
        method.eval()
        with torch.no_grad():
            return _flops(lambda: method(images))
    with method.evaluating():
        return _flops(lambda: method(images))


def build(args: argparse.Namespace, device: torch.device):
    config = {
        "embed_dim": 512 if args.text_width == 512 else args.text_width,
        "vision_cfg": {
            "image_size": args.image,
            "layers": args.layers,
            "width": args.vision_width,
            "patch_size": args.patch,
            "head_width": 64,
        },
        "text_cfg": {
            "context_length": 77,
            "vocab_size": 49408,
            "width": args.text_width,
            "heads": args.text_width // 64,
            "layers": args.layers,
        },
    }
    backbone = random_clip(config, seed=0, device=device)
    names = tuple(f"class number {i}" for i in range(args.classes))
    classes = ClassSet(names, descriptions={n: [f"a photo of a {n}.", f"a {n} in the wild."] for n in names})
    method_config = (
        {"n_ctx": args.n_ctx, "depth": args.depth, "boundary": args.boundary} if args.method == "hicropl" else {}
    )
    method = build_method(args.method, backbone, classes, method_config)
    return backbone, method


def measure(args: argparse.Namespace, backbone, method, naive: bool) -> dict[str, object]:
    text_encoder = backbone.text_encoder
    text_encoder.share_prefix = not naive
    text_encoder.truncate = not naive
    backbone.image_encoder.prune_queries = not naive
    backbone.image_encoder.fuse_mlp = text_encoder.fuse_mlp = not naive
    gen = torch.Generator().manual_seed(0)
    device = backbone.device
    images = torch.randn(args.batch, 3, args.image, args.image, generator=gen).to(device)
    labels = torch.randint(args.classes, (args.batch,), generator=gen).to(device)
    eval_images = torch.randn(args.eval_batch, 3, args.image, args.image, generator=gen).to(device)
    second_view = images.flip(-1) if method.takes_second_view else None
    params = method.trainable_parameters()
    optimizer = torch.optim.Adam(params, lr=0.0025, eps=1e-3, weight_decay=5e-4, foreach=False)
    method.train()
    precision = args.precision

    def train_step() -> None:  # the engine's order: gradients are freed right after the update
        with autocast(precision, device):
            loss = method(images, labels, second_view=second_view).loss
        loss.float().backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    step_times = timed(train_step, args.warmup, args.reps)
    if args.method != "hicropl":  # the component split below is HiCroPL's
        return _evaluation(args, backbone, method, eval_images, naive, step_times, train_step)

    def frozen_image() -> None:
        with torch.no_grad():
            backbone.encode_image(images)

    def prompted_image() -> None:
        _, visual = method.prompt_learner()
        backbone.encode_image(images, ImagePrompts(layers=visual)).sum().backward()

    def text() -> None:
        text_layers, _ = method.prompt_learner()
        backbone.encode_text(method.tokenized_prompts, TextPrompts(layers=text_layers)).sum().backward()

    def open_clip_image() -> None:  # the authors' frozen tower computes exactly this: a speed yardstick
        with torch.no_grad():
            backbone.model.encode_image(images)

    with autocast(precision, device):
        components = {
            "open_clip_image_forward": statistics.median(timed(open_clip_image, 1, args.reps)),
            "frozen_image_forward": statistics.median(timed(frozen_image, 1, args.reps)),
            "prompted_image_forward_backward": statistics.median(timed(prompted_image, 1, args.reps)),
            "text_forward_backward": statistics.median(timed(text, 1, args.reps)),
        }
        components_flops = {  # for the fraction of the hardware's peak the encoders reach
            "prompted_image_forward_backward": _flops(prompted_image),
            "text_forward_backward": _flops(text),
        }
    optimizer.zero_grad(set_to_none=True)
    result = _evaluation(args, backbone, method, eval_images, naive, step_times, train_step)
    result["components_s"] = components
    result["components_flops"] = components_flops
    return result


def _evaluation(args, backbone, method, eval_images, naive: bool, step_times, train_step) -> dict[str, object]:
    """Evaluation throughput (plain, and with the frozen image features cached), class features, FLOPs."""
    precision, device = args.precision, backbone.device

    def naive_batch() -> None:  # class features recomputed for every batch, as the authors' code does
        method.eval()
        with torch.no_grad(), autocast(precision, device):
            method(eval_images)

    def eval_times(frozen: torch.Tensor | None) -> list[float]:
        # One evaluation computes the class features once (timed separately below) and then runs
        # batches; over a test set of thousands of images that one-off cost vanishes per image.
        with autocast(precision, device), method.evaluating():
            return timed(lambda: method(eval_images, frozen_image=frozen), 1, args.reps)

    if naive:
        plain_times = timed(naive_batch, 1, args.reps)
        cached_times = plain_times
    else:
        plain_times = eval_times(None)
        with torch.no_grad(), autocast(precision, device):
            cached = backbone.encode_image(eval_images, normalize=True)
        cached_times = eval_times(cached)
    class_feature_s = None
    if method.caches_class_features:  # CoCoOp's class features depend on the image
        method.eval()
        with torch.no_grad(), autocast(precision, device):
            class_feature_s = statistics.median(timed(method.class_features, 1, args.reps))
        method.train()
    result: dict[str, object] = {
        "train_step_s": {"min": min(step_times), "median": statistics.median(step_times)},
        "train_images_per_s": args.batch / statistics.median(step_times),
        "eval_images_per_s": {
            "best": args.eval_batch / min(plain_times),
            "median": args.eval_batch / statistics.median(plain_times),
        },
        "eval_images_per_s_cached": args.eval_batch / statistics.median(cached_times),
        "eval_class_features_s": class_feature_s,
        "flops_train_step": _flops(train_step),
        "flops_test_image": _eval_flops(method, eval_images, naive) // args.eval_batch,
    }
    text_encoder = backbone.text_encoder
    text_encoder.share_prefix = True
    text_encoder.truncate = True
    backbone.image_encoder.prune_queries = True
    backbone.image_encoder.fuse_mlp = text_encoder.fuse_mlp = True
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--method", choices=TRAINED_METHODS, default="hicropl")
    parser.add_argument("--precision", choices=["fp32", "bf16", "fp16"], default="fp32")
    parser.add_argument("--layers", type=int, default=12)
    parser.add_argument("--image", type=int, default=224)
    parser.add_argument("--patch", type=int, default=16)
    parser.add_argument("--vision-width", type=int, default=768)
    parser.add_argument("--text-width", type=int, default=512)
    parser.add_argument("--classes", type=int, default=50)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--eval-batch", type=int, default=16)
    parser.add_argument("--n-ctx", type=int, default=16, help="HiCroPL only (others: published sizes)")
    parser.add_argument("--depth", type=int, default=12, help="HiCroPL only")
    parser.add_argument("--boundary", type=int, default=6, help="HiCroPL only")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--gradient-checkpointing", action="store_true", help="recompute image activations")
    parser.add_argument("--skip-naive", action="store_true", help="measure only the optimised path")
    parser.add_argument(
        "--default-allocator", action="store_true", help="leave glibc malloc as it is (the engine tunes it on CPU)"
    )
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    allocator_tuned = tune_host_allocator_for(device, not args.default_allocator)
    backbone, method = build(args, device)
    backbone.image_encoder.gradient_checkpointing = args.gradient_checkpointing
    optimized = measure(args, backbone, method, naive=False)
    optimized["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    if device.type == "cuda":
        optimized["peak_gpu_mib"] = torch.cuda.max_memory_allocated(device) / 2**20
    optimized["setup"] = {
        **{k: v for k, v in vars(args).items() if k != "json"},
        "host_allocator_tuned": allocator_tuned,
        "torch": torch.__version__,
        "machine": platform.machine(),
        "processor": platform.processor() or platform.platform(),
        "date": time.strftime("%Y-%m-%d"),
    }
    if args.skip_naive:
        print(json.dumps(optimized, indent=2))
        if args.json:
            with open(args.json, "w") as handle:
                json.dump(optimized, handle, indent=2)
        return
    optimized["naive"] = measure(args, backbone, method, naive=True)
    naive = optimized["naive"]
    rows = [("train step (median s)", optimized["train_step_s"]["median"], naive["train_step_s"]["median"])]
    if "components_s" in optimized:
        rows += [
            ("frozen image fwd (s)", *(r["components_s"]["frozen_image_forward"] for r in (optimized, naive))),
            (
                "prompted image fwd+bwd (s)",
                *(r["components_s"]["prompted_image_forward_backward"] for r in (optimized, naive)),
            ),
            ("text fwd+bwd (s)", *(r["components_s"]["text_forward_backward"] for r in (optimized, naive))),
        ]
    nan = float("nan")
    rows += [
        ("eval images/s (median)", optimized["eval_images_per_s"]["median"], naive["eval_images_per_s"]["median"]),
        ("eval images/s, cached frozen", optimized["eval_images_per_s_cached"], nan),
        (
            "eval class features, once (s)",
            *(nan if r["eval_class_features_s"] is None else r["eval_class_features_s"] for r in (optimized, naive)),
        ),
        ("GFLOP per train step", optimized["flops_train_step"] / 1e9, naive["flops_train_step"] / 1e9),
    ]
    print(f"{'':32s} {'optimised':>12s} {'naive':>12s}")
    for label, ours, plain in rows:
        print(f"{label:32s} {ours:12.3f} {plain:12.3f}")
    print(f"peak RSS {optimized['peak_rss_mib']:.0f} MiB")
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(optimized, handle, indent=2)


if __name__ == "__main__":
    main()
