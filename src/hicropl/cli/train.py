"""``hicropl train``, ``hicropl zero-shot`` and ``hicropl import``: make a run folder."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from hicropl.cli.common import (
    add_run_flags,
    examples,
    fallback_overrides,
    run_config,
    run_flags,
    subcommand,
    with_env_defaults,
)


def add_parsers(sub: Any) -> None:
    train = subcommand(
        sub,
        "train",
        "train a method on a dataset under a protocol, then test it",
        examples(
            "hicropl train --config hicropl/base2novel --dataset EuroSAT --seed 1 --data-root ~/data "
            "--clip ViT-B-16.pt",
            "hicropl train --method hicropl --dataset oxford_pets --protocol fewshot --shots 4 --seed 2 "
            "--set train.epochs=10 --set optim.lr=0.001",
            "hicropl train --config hicropl/cross_dataset --dataset ImageNet --seed 1   # tests on the 10 targets too",
            "torchrun --nproc-per-node 4 -m hicropl.cli train --config hicropl/base2novel_imagenet --dataset ImageNet",
            "(rerun the same command after an interruption to resume; --overwrite starts over)",
        ),
    )
    train.add_argument("--method", help="a registered method (hicropl info lists them)")
    add_run_flags(train)
    train.set_defaults(handler=cmd_train)

    zero = subcommand(
        sub,
        "zero-shot",
        "zero-shot CLIP (templates or descriptions, no training) as a run folder",
        examples(
            "hicropl zero-shot --dataset EuroSAT --protocol base2novel --data-root ~/data --clip ViT-B-16.pt",
            "hicropl zero-shot --dataset DescribableTextures --prompts ensemble",
            "hicropl zero-shot --dataset OxfordPets --prompts descriptions",
            "hicropl zero-shot --dataset Food101 --template 'a photo of {}, a dish.' --template "
            "'a close-up photo of {}.'",
        ),
    )
    zero.add_argument(
        "--prompts",
        help="zeroshot method's prompt source: dataset (CoOp template), ensemble (CLIP's 80 "
        "ImageNet templates), custom (--template) or descriptions (mean of the shipped LLM descriptions)",
    )
    zero.add_argument(
        "--template",
        action="append",
        default=[],
        help="a custom template with {} for the class name (repeatable; implies --prompts custom)",
    )
    add_run_flags(zero)
    zero.set_defaults(handler=cmd_zero_shot)

    imported = subcommand(
        sub,
        "import",
        "turn an authors' Dassl checkpoint (CoOp, CoCoOp, KgCoOp, IVLP, MaPLe, HiCroPL) into a run folder",
        examples(
            "hicropl import --method maple output/base2new/train_base/eurosat/shots_16/MaPLe/"
            "vit_b16_c2_ep5_batch4_2ctx/seed1 \\",
            "    --config maple/base2novel --dataset EuroSAT --seed 1 --data-root ~/data --clip ViT-B-16.pt",
            "hicropl eval runs/base2novel/maple-authors/EuroSAT/shots_16/seed_1 --subset base   # and --subset novel",
            "hicropl report runs/",
            "hicropl import --method hicropl PATH/prompt_learner/model.pth.tar-2 \\",
            "    --config hicropl/cross_dataset --set method.variant=official --dataset ImageNet --seed 1",
            "",
            "The checkpoint's shapes fix prompt lengths, depths, CSC and HiCroPL's boundary (variant official);",
            "ctx_init is not visible in them: give the authors' value (their config's CTX_INIT) with --config or",
            "--set. --dataset and --protocol give the classes the authors trained on (base2novel: the base half).",
            "Files are read with weights_only=True; result.json records the file and its sha256 (imported_from).",
        ),
    )
    imported.add_argument(
        "checkpoint", help="model-best.pth.tar or model.pth.tar-N, or the authors' output folder holding it"
    )
    imported.add_argument("--method", help="coop, cocoop, kgcoop, ivlp, maple or hicropl")
    add_run_flags(imported)
    imported.set_defaults(handler=cmd_import)


def _train(args: argparse.Namespace, config: Any) -> int:
    from hicropl.engine.run import default_run_dir, train

    output = Path(args.output) if args.output else default_run_dir(config)
    result = train(config, output, overwrite=args.overwrite, quiet=args.quiet, progress=not args.quiet)
    summary = ", ".join(f"{k} {v:.2f}" for k, v in result["summary"].items())
    print(f"{output}: {summary}")
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    return _train(args, run_config(args, args.method))


def cmd_zero_shot(args: argparse.Namespace) -> int:
    extra = []
    if args.template:
        extra.append("method.prompts=custom")
        extra.append("method.templates=" + json.dumps(args.template))
    if args.prompts:
        extra.append(f"method.prompts={args.prompts}")
    return _train(args, run_config(args, "zeroshot", extra))


def cmd_import(args: argparse.Namespace) -> int:
    from hicropl.engine.import_run import evaluation_commands, import_config, import_run
    from hicropl.engine.run import default_run_dir
    from hicropl.methods.dassl_checkpoint import read_dassl_checkpoint

    checkpoint = read_dassl_checkpoint(args.checkpoint)
    overrides = [*args.overrides, *fallback_overrides(args)]
    config = with_env_defaults(import_config(checkpoint, args.config, run_flags(args, args.method), overrides))
    output = Path(args.output) if args.output else default_run_dir(config)
    import_run(config, checkpoint, output, overwrite=args.overwrite, quiet=args.quiet)
    print(f"{output}: {config.label} imported from {checkpoint.file} (epoch {checkpoint.epoch}); evaluate it with:")
    for command in evaluation_commands(config, output):
        print(f"  {command}")
    return 0
