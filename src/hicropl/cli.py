"""The ``hicropl`` command: train, import, eval, zero-shot, predict, report, sweep, data check, info.

Every subcommand prints errors the library raises (HicroplError) as one line and exits with code 2;
an interrupted training run exits with 130 after writing a resumable checkpoint.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from hicropl.errors import HicroplError

ENV_CLIP = "HICROPL_CLIP"
ENV_DATA = "HICROPL_DATA"


def _examples(*lines: str) -> str:
    return "examples:\n" + "\n".join(f"  {line}" for line in lines)


def _parser(subparsers: Any, name: str, help_text: str, examples: str) -> argparse.ArgumentParser:
    return subparsers.add_parser(
        name,
        help=help_text,
        description=help_text,
        epilog=examples,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )


def _add_clip(parser: argparse.ArgumentParser, required_note: str = "") -> None:
    parser.add_argument(
        "--clip",
        default=None,
        help=f"CLIP weights: a checkpoint file (e.g. ViT-B-16.pt) or an open_clip tag (ViT-B-16:openai); "
        f"default: ${ENV_CLIP}{required_note}",
    )


def _add_data_root(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data-root", default=None, help=f"folder holding the dataset folders; default: ${ENV_DATA}")


def _add_run_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", help="a run config YAML (see configs/); flags and --set override it")
    parser.add_argument("--dataset", help="dataset name, e.g. EuroSAT, oxford_pets, imagenet")
    parser.add_argument("--protocol", help="base2novel, fewshot, cross_dataset or domain_generalization")
    parser.add_argument("--shots", type=int, help="training images per class (0: all)")
    parser.add_argument("--seed", type=int, help="random seed (the paper uses 1, 2, 3)")
    _add_data_root(parser)
    _add_clip(parser)
    parser.add_argument(
        "--output", help="the run folder (default: runs/<protocol>/<label or method>/<dataset>/shots_K/seed_S)"
    )
    parser.add_argument("--device", help="auto (default), cpu, cuda or cuda:N")
    parser.add_argument("--precision", choices=["fp32", "bf16", "fp16"], help="mixed precision on CUDA")
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config field, e.g. --set optim.lr=0.001 (repeatable)",
    )
    parser.add_argument("--overwrite", action="store_true", help="replace a finished run in --output")
    parser.add_argument("--quiet", action="store_true", help="no progress bars or console log (log.txt is kept)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hicropl",
        description="Prompt learning on frozen CLIP: HiCroPL and baselines, the paper's protocols and tables.",
        epilog=_examples(
            "hicropl train --config configs/hicropl/base2novel.yaml --dataset EuroSAT --seed 1 \\",
            "    --data-root ~/data --clip ~/weights/ViT-B-16.pt",
            "hicropl report runs/ --output reports/",
            "hicropl <command> --help",
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", metavar="command")
    sub.required = True

    train = _parser(
        sub,
        "train",
        "train a method on a dataset under a protocol, then test it",
        _examples(
            "hicropl train --config configs/hicropl/base2novel.yaml --dataset EuroSAT --seed 1 --data-root ~/data "
            "--clip ViT-B-16.pt",
            "hicropl train --method hicropl --dataset oxford_pets --protocol fewshot --shots 4 --seed 2 "
            "--set train.epochs=10 --set optim.lr=0.001",
            "hicropl train --config configs/hicropl/cross_dataset.yaml --dataset ImageNet --seed 1   "
            "# tests on the 10 targets too",
            "torchrun --nproc-per-node 4 -m hicropl.cli train --config configs/hicropl/base2novel_imagenet.yaml "
            "--dataset ImageNet",
            "(rerun the same command after an interruption to resume; --overwrite starts over)",
        ),
    )
    train.add_argument("--method", help="a registered method (hicropl info lists them)")
    _add_run_flags(train)
    train.set_defaults(handler=cmd_train)

    zero = _parser(
        sub,
        "zero-shot",
        "zero-shot CLIP (templates or descriptions, no training) as a run folder",
        _examples(
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
    _add_run_flags(zero)
    zero.set_defaults(handler=cmd_zero_shot)

    imported = _parser(
        sub,
        "import",
        "turn an authors' Dassl checkpoint (CoOp, CoCoOp, KgCoOp, IVLP, MaPLe, HiCroPL) into a run folder",
        _examples(
            "hicropl import --method maple output/base2new/train_base/eurosat/shots_16/MaPLe/"
            "vit_b16_c2_ep5_batch4_2ctx/seed1 \\",
            "    --config configs/maple/base2novel.yaml --dataset EuroSAT --seed 1 --data-root ~/data "
            "--clip ViT-B-16.pt",
            "hicropl eval runs/base2novel/maple-authors/EuroSAT/shots_16/seed_1 --subset base   # and --subset novel",
            "hicropl report runs/",
            "hicropl import --method hicropl PATH/prompt_learner/model.pth.tar-2 \\",
            "    --config configs/hicropl/cross_dataset.yaml --set method.variant=official --dataset ImageNet --seed 1",
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
    _add_run_flags(imported)
    imported.set_defaults(handler=cmd_import)

    evaluate = _parser(
        sub,
        "eval",
        "evaluate a finished run on another split, class subset or dataset",
        _examples(
            "hicropl eval runs/base2novel/hicropl-paper/EuroSAT/shots_16/seed_1 --subset novel",
            "hicropl eval RUN --dataset Caltech101          # cross-dataset target",
            "hicropl eval RUN --dataset ImageNetSketch      # domain generalisation target",
            "hicropl eval RUN --split val --json",
        ),
    )
    evaluate.add_argument("run", help="a run folder made by hicropl train")
    evaluate.add_argument("--dataset", help="dataset to test on (default: the run's own)")
    evaluate.add_argument("--subset", default="all", choices=["all", "base", "novel", "new"], help="class subset")
    evaluate.add_argument("--split", default="test", choices=["test", "val", "train"])
    _add_data_root(evaluate)
    _add_clip(evaluate, " (default: the run's)")
    evaluate.add_argument("--device", help="auto, cpu, cuda or cuda:N (default: the run's)")
    evaluate.add_argument("--batch-size", type=int, help="evaluation batch size")
    evaluate.add_argument("--json", action="store_true", help="print the whole record (per-class accuracy too)")
    evaluate.add_argument("--quiet", action="store_true")
    evaluate.set_defaults(handler=cmd_eval)

    predict = _parser(
        sub,
        "predict",
        "top-k classes of images with a trained run",
        _examples(
            "hicropl predict RUN photo1.jpg photos/ --top-k 3",
            "hicropl predict RUN img.png --classes 'cat,dog,horse' --format csv --output preds.csv",
            "hicropl predict RUN imgs/ --classes-file names.txt",
            "hicropl predict RUN imgs/ --classes-dataset OxfordPets --subset novel --data-root ~/data",
        ),
    )
    predict.add_argument("run", help="a run folder made by hicropl train or zero-shot")
    predict.add_argument("images", nargs="+", help="image files or folders (searched recursively)")
    classes = predict.add_mutually_exclusive_group()
    classes.add_argument("--classes", help="comma-separated class names (default: the run's training classes)")
    classes.add_argument("--classes-file", help="a text file with one class name per line")
    classes.add_argument("--classes-dataset", help="the class names of a dataset (needs --data-root)")
    predict.add_argument(
        "--subset",
        default="all",
        choices=["all", "base", "novel", "new"],
        help="class subset of --classes-dataset",
    )
    predict.add_argument("--top-k", type=int, default=5)
    predict.add_argument("--format", choices=["json", "csv"], default="json")
    predict.add_argument("--output", help="write here instead of printing")
    _add_data_root(predict)
    _add_clip(predict, " (default: the run's)")
    predict.add_argument("--device", help="auto, cpu, cuda or cuda:N (default: the run's)")
    predict.add_argument("--batch-size", type=int, default=64)
    predict.set_defaults(handler=cmd_predict)

    report = _parser(
        sub,
        "report",
        "aggregate run folders over seeds into the paper's tables",
        _examples(
            "hicropl report runs/                              # markdown on stdout",
            "hicropl report runs/base2novel runs/fewshot --output reports/ --format md csv json",
            "hicropl report runs/ --output reports/ --plots   # needs pip install 'hicropl[plots]'",
        ),
    )
    report.add_argument("runs", nargs="*", default=["runs"], help="run folders or folders containing them")
    report.add_argument("--output", help="write report.md/.csv/.json (and plots) into this folder")
    report.add_argument("--format", nargs="+", choices=["md", "csv", "json"], default=["md", "csv", "json"])
    report.add_argument("--plots", action="store_true", help="few-shot curves and base/novel bars (matplotlib)")
    report.set_defaults(handler=cmd_report)

    sweep = _parser(
        sub,
        "sweep",
        "run a grid of methods x datasets x shots x seeds, skipping finished runs",
        _examples(
            "hicropl sweep --file configs/sweeps/hicropl_base2novel.yaml --data-root ~/data --clip ViT-B-16.pt",
            "hicropl sweep --methods hicropl zeroshot --protocol base2novel --datasets EuroSAT DescribableTextures "
            "--seeds 1 2 3 --config configs/hicropl/base2novel.yaml",
            "hicropl sweep --file sweep.yaml --launcher gpus          # one run per visible GPU at a time",
            "hicropl sweep --file sweep.yaml --launcher slurm         # needs pip install 'hicropl[slurm]'",
            "hicropl sweep --file sweep.yaml --dry-run",
        ),
    )
    sweep.add_argument(
        "--file",
        help="a sweep YAML (fields: protocol, methods, datasets, shots, seeds, config, "
        "configs, overrides, root, clip, data_root, launcher, gpus, slurm)",
    )
    sweep.add_argument("--protocol")
    sweep.add_argument("--methods", nargs="+")
    sweep.add_argument("--datasets", nargs="+")
    sweep.add_argument("--shots", nargs="+", type=int)
    sweep.add_argument("--seeds", nargs="+", type=int)
    sweep.add_argument("--config", help="run config YAML applied to every run")
    sweep.add_argument("--root", help="where run folders go (default: runs)")
    sweep.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    _add_data_root(sweep)
    _add_clip(sweep)
    sweep.add_argument("--launcher", choices=["local", "gpus", "slurm"])
    sweep.add_argument("--gpus", nargs="+", type=int, help="GPU indices for --launcher gpus (default: all visible)")
    sweep.add_argument("--dry-run", action="store_true", help="list the runs and whether they are done")
    sweep.set_defaults(handler=cmd_sweep)

    data = _parser(
        sub,
        "data",
        "dataset tools",
        _examples("hicropl data check --root ~/data", "hicropl data check --root ~/data --dataset EuroSAT"),
    )
    data_sub = data.add_subparsers(dest="data_command", metavar="command")
    data_sub.required = True
    check = _parser(
        data_sub,
        "check",
        "check dataset folders, split files and images under a data root",
        _examples("hicropl data check --root ~/data", "hicropl data check --root ~/data --dataset dtd"),
    )
    check.add_argument("--root", default=None, help=f"the data root (default: ${ENV_DATA})")
    check.add_argument("--dataset", help="check only this dataset")
    check.set_defaults(handler=cmd_data_check)

    info = _parser(
        sub,
        "info",
        "describe CLIP weights, or list methods, datasets and protocols",
        _examples("hicropl info --clip ~/weights/ViT-B-16.pt", "hicropl info"),
    )
    _add_clip(info)
    info.set_defaults(handler=cmd_info)

    from hicropl.toyworld import cli as toyworld_cli

    toyworld_cli.add_demo_parser(sub)
    toyworld_cli.add_toyworld_parser(sub)
    return parser


# --- handlers ---------------------------------------------------------------------------------------


def _env(value: str | None, name: str) -> str | None:
    return value if value else os.environ.get(name) or None


def _run_flags(args: argparse.Namespace, method: str | None) -> dict[str, Any]:
    return {
        "method.name": method,
        "data.dataset": args.dataset,
        "data.protocol": args.protocol,
        "data.shots": args.shots,
        "seed": args.seed,
        "data.root": args.data_root,
        "clip": args.clip,
        "train.device": args.device,
        "train.precision": args.precision,
    }


def _run_config(args: argparse.Namespace, method: str | None, extra: Sequence[str] = ()) -> Any:
    from hicropl.engine.run_config import load_run_config

    return _with_env_defaults(load_run_config(args.config, _run_flags(args, method), [*extra, *args.overrides]))


def _with_env_defaults(config: Any) -> Any:
    # Environment defaults fill only what neither the config file nor a flag gave.
    if not config.clip and os.environ.get(ENV_CLIP):
        config.clip = os.environ[ENV_CLIP]
    if not config.data.root and os.environ.get(ENV_DATA):
        config.data.root = os.environ[ENV_DATA]
    return config


def _train(args: argparse.Namespace, config: Any) -> int:
    from hicropl.engine.run import default_run_dir, train

    output = Path(args.output) if args.output else default_run_dir(config)
    result = train(config, output, overwrite=args.overwrite, quiet=args.quiet, progress=not args.quiet)
    summary = ", ".join(f"{k} {v:.2f}" for k, v in result["summary"].items())
    print(f"{output}: {summary}")
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    return _train(args, _run_config(args, args.method))


def cmd_zero_shot(args: argparse.Namespace) -> int:
    extra = []
    if args.template:
        extra.append("method.prompts=custom")
        extra.append("method.templates=" + json.dumps(args.template))
    if args.prompts:
        extra.append(f"method.prompts={args.prompts}")
    return _train(args, _run_config(args, "zeroshot", extra))


def cmd_import(args: argparse.Namespace) -> int:
    from hicropl.engine.import_run import evaluation_commands, import_config, import_run
    from hicropl.engine.run import default_run_dir
    from hicropl.methods.dassl_checkpoint import read_dassl_checkpoint

    checkpoint = read_dassl_checkpoint(args.checkpoint)
    config = _with_env_defaults(import_config(checkpoint, args.config, _run_flags(args, args.method), args.overrides))
    output = Path(args.output) if args.output else default_run_dir(config)
    import_run(config, checkpoint, output, overwrite=args.overwrite, quiet=args.quiet)
    print(f"{output}: {config.label} imported from {checkpoint.file} (epoch {checkpoint.epoch}); evaluate it with:")
    for command in evaluation_commands(config, output):
        print(f"  {command}")
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    from hicropl.engine.evaluate_run import evaluate_run

    record = evaluate_run(
        args.run,
        dataset=args.dataset,
        subset=args.subset,
        split=args.split,
        data_root=_env(args.data_root, ENV_DATA),
        clip=args.clip,
        device=args.device,
        batch_size=args.batch_size,
        quiet=args.quiet,
        progress=not args.quiet,
    )
    if args.json:
        print(json.dumps(record, indent=2))
    else:
        print(
            f"{record['name']}: accuracy {record['accuracy']:.2f}, macro-F1 {record['macro_f1']:.2f} "
            f"({record['count']} images)"
        )
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    from hicropl.engine.predict import (
        collect_images,
        parse_class_list,
        predict,
        predictions_csv,
        read_class_file,
    )
    from hicropl.engine.restore import restore_run
    from hicropl.methods.base import ClassSet

    images = collect_images(args.images)
    restored = restore_run(args.run, clip=args.clip, data_root=_env(args.data_root, ENV_DATA), device=args.device)
    if args.classes:
        classes = ClassSet(tuple(parse_class_list(args.classes)))
    elif args.classes_file:
        classes = ClassSet(tuple(read_class_file(args.classes_file)))
    elif args.classes_dataset:
        from hicropl.data.registry import build_dataset
        from hicropl.data.subsample import subsample_classes
        from hicropl.engine.data import class_set, resolve_root

        root = resolve_root(restored.config.data.root)
        classes = class_set(
            subsample_classes(build_dataset(args.classes_dataset, root, check_files=False), args.subset)
        )
    else:
        classes = restored.train_classes
    rows = predict(
        restored.method,
        images,
        classes,
        top_k=args.top_k,
        batch_size=args.batch_size,
        precision=restored.config.train.precision,
    )
    text = predictions_csv(rows) if args.format == "csv" else json.dumps(rows, indent=2) + "\n"
    if args.output:
        Path(args.output).expanduser().write_text(text, encoding="utf-8")
        print(f"{len(rows)} predictions written to {args.output}")
    else:
        sys.stdout.write(text)
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from hicropl.results.report import make_report

    report = make_report(args.runs, args.output, args.format, args.plots)
    if args.output:
        for file in report.files:
            print(file)
        print(f"{report.runs} runs, {len(report.tables)} tables")
    else:
        print(report.markdown())
    for problem in report.problems:
        print(f"warning: {problem}", file=sys.stderr)
    return 0


def cmd_sweep(args: argparse.Namespace) -> int:
    from hicropl.engine import sweep as sweeps
    from hicropl.engine.runlog import run_logging

    flags = {
        "protocol": args.protocol,
        "methods": args.methods,
        "datasets": args.datasets,
        "shots": args.shots,
        "seeds": args.seeds,
        "config": args.config,
        "root": args.root,
        "clip": _env(args.clip, ENV_CLIP),
        "data_root": _env(args.data_root, ENV_DATA),
        "launcher": args.launcher,
        "gpus": args.gpus,
        "overrides": args.overrides,
    }
    config = sweeps.load_sweep(args.file, flags)
    jobs = sweeps.plan(config)
    todo, done = sweeps.pending(jobs)
    print(f"{len(jobs)} runs: {len(done)} finished (skipped), {len(todo)} to run")
    if args.dry_run:
        for job in jobs:
            print(f"  [{'done' if job not in todo else 'todo'}] {job.name} -> {job.output}")
        return 0
    if not todo:
        return 0
    with run_logging(None):
        if config.launcher == "slurm":
            cluster, ids = sweeps.submit_slurm(todo, config)
            more = " ..." if len(ids) > 3 else ""
            print(f"submitted {len(ids)} array tasks to {cluster}: {', '.join(ids[:3])}{more}")
            return 0
        if config.launcher == "gpus":
            failures = sweeps.run_on_gpus(todo, list(config.gpus) or sweeps.visible_gpus())
        else:
            failures = sweeps.run_local(todo)
    for job, message in failures:
        print(f"failed: {job.name}: {message}", file=sys.stderr)
    print(f"{len(todo) - len(failures)} of {len(todo)} runs finished")
    return 1 if failures else 0


def cmd_data_check(args: argparse.Namespace) -> int:
    from hicropl.data.check import run_data_check

    root = _env(args.root, ENV_DATA)
    if not root:
        raise _usage_error(f"data check needs --root DIR (the folder holding the datasets) or ${ENV_DATA}")
    return run_data_check(root, args.dataset)


def cmd_info(args: argparse.Namespace) -> int:
    clip = _env(args.clip, ENV_CLIP)
    if clip:
        import torch

        from hicropl.engine.backbone import load_backbone

        print(load_backbone(clip, torch.device("cpu")).summary())
        return 0
    from hicropl.data.protocols import list_protocols
    from hicropl.data.registry import list_datasets
    from hicropl.methods.base import list_methods

    print("methods:   " + ", ".join(list_methods()))
    print("datasets:  " + ", ".join(list_datasets()))
    print("protocols: " + ", ".join(list_protocols()))
    return 0


def _usage_error(message: str) -> HicroplError:
    from hicropl.errors import ConfigError

    return ConfigError(message)


def main(argv: Sequence[str] | None = None) -> int:
    from hicropl.errors import exit_code_of

    parser = build_parser()
    args = parser.parse_args(list(argv) if argv is not None else None)
    handler: Callable[[argparse.Namespace], int] = args.handler
    return exit_code_of(lambda: handler(args))


if __name__ == "__main__":
    sys.exit(main())
