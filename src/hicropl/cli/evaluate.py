"""``hicropl eval`` and ``hicropl predict``: use a finished run."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from hicropl.cli.common import (
    ENV_DATA,
    add_clip,
    add_data_root,
    add_fallback_flags,
    add_set_flag,
    check_run_fallbacks,
    env_or,
    examples,
    fallback_overrides,
    subcommand,
    usage_error,
)


def add_parsers(sub: Any) -> None:
    evaluate = subcommand(
        sub,
        "eval",
        "evaluate a finished run on another split, class subset or dataset",
        examples(
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
    add_data_root(evaluate)
    add_clip(evaluate, " (default: the run's)")
    evaluate.add_argument("--device", help="auto, cpu, cuda or cuda:N (default: the run's)")
    evaluate.add_argument("--batch-size", type=int, help="evaluation batch size")
    evaluate.add_argument("--json", action="store_true", help="print the whole record (per-class accuracy too)")
    add_set_flag(evaluate, "train.num_workers=8")
    add_fallback_flags(evaluate)
    evaluate.add_argument("--quiet", action="store_true")
    evaluate.set_defaults(handler=cmd_eval)

    predict = subcommand(
        sub,
        "predict",
        "top-k classes of images with a trained run",
        examples(
            "hicropl predict RUN photo1.jpg photos/ --top-k 3",
            "hicropl predict RUN img.png --classes 'cat,dog,horse' --format csv --output preds.csv",
            "hicropl predict RUN imgs/ --classes-file names.txt",
            "hicropl predict RUN imgs/ --classes-dataset OxfordPets --subset novel --data-root ~/data",
            "hicropl predict RUN imgs/ --classes 'tabby cat,sphynx' --descriptions cats.json   # HiCroPL, KgCoOp ...",
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
    predict.add_argument(
        "--descriptions",
        help="a JSON file mapping each --classes/--classes-file name to a list of sentences (the shipped "
        "description files' format), for methods whose frozen text comes from descriptions (hicropl); "
        "without it such methods fall back to CLIP's template ensemble, with a warning",
    )
    predict.add_argument("--top-k", type=int, default=5)
    predict.add_argument("--format", choices=["json", "csv"], default="json")
    predict.add_argument("--output", help="write here instead of printing (its folder must exist)")
    add_data_root(predict)
    add_clip(predict, " (default: the run's)")
    predict.add_argument("--device", help="auto, cpu, cuda or cuda:N (default: the run's)")
    predict.add_argument("--batch-size", type=int, default=64)
    add_set_flag(predict, "method.description_fallback=true")
    add_fallback_flags(predict)
    predict.set_defaults(handler=cmd_predict)


def cmd_eval(args: argparse.Namespace) -> int:
    from hicropl.engine.evaluate_run import evaluate_run

    check_run_fallbacks(args)
    record = evaluate_run(
        args.run,
        dataset=args.dataset,
        subset=args.subset,
        split=args.split,
        data_root=env_or(args.data_root, ENV_DATA),
        clip=args.clip,
        device=args.device,
        batch_size=args.batch_size,
        quiet=args.quiet,
        progress=not args.quiet,
        overrides=[*args.overrides, *fallback_overrides(args)],
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
        check_output_file,
        collect_images,
        custom_class_set,
        parse_class_list,
        predict,
        predictions_csv,
        read_class_file,
        template_fallback_override,
    )
    from hicropl.engine.restore import restore_run

    # Every check that needs no model comes before loading one and predicting.
    output = check_output_file(args.output) if args.output else None
    check_run_fallbacks(args)
    images = collect_images(args.images)
    overrides = [*args.overrides, *fallback_overrides(args)]
    names: list[str] | None = None
    if args.classes:
        names = parse_class_list(args.classes)
    elif args.classes_file:
        names = read_class_file(args.classes_file)
    if args.descriptions and names is None:
        raise usage_error("--descriptions describes the classes of --classes or --classes-file; pass one of them.")
    if names is not None and not args.descriptions:
        fallback = template_fallback_override(args.run, overrides)
        if fallback:
            overrides.append(fallback)
            print(
                "warning: no descriptions of the given classes, so the run's frozen text features use CLIP's "
                "template ensemble instead (predictions differ from those with descriptions); pass "
                "--descriptions FILE to give them",
                file=sys.stderr,
            )
    restored = restore_run(
        args.run,
        clip=args.clip,
        data_root=env_or(args.data_root, ENV_DATA),
        device=args.device,
        overrides=overrides,
    )
    if names is not None:
        classes = custom_class_set(names, args.descriptions)
    elif args.classes_dataset:
        from hicropl.data.registry import build_dataset
        from hicropl.data.subsample import subsample_classes
        from hicropl.engine.data import class_set, resolve_root

        root = resolve_root(restored.config.data.root, args.classes_dataset)
        classes = class_set(
            subsample_classes(build_dataset(args.classes_dataset, root, check_files=False), args.subset)
        )
    else:
        classes = restored.train_classes
    if names is not None and not args.descriptions:
        from hicropl.errors import DataError

        try:
            restored.method.set_classes(classes)
        except DataError as exc:  # a method that needs descriptions and has no template fallback
            raise DataError(
                f"This {restored.config.method_name} run builds its text features from descriptions of the classes, "
                "and the given names have none: pass --descriptions FILE, a JSON file mapping each class name to "
                "a list of sentences."
            ) from exc
    rows, skipped = predict(
        restored.method,
        images,
        classes,
        top_k=args.top_k,
        batch_size=args.batch_size,
        precision=restored.config.train.precision,
        skip_corrupt=restored.config.train.skip_corrupt,
    )
    if skipped:
        shown = ", ".join(str(p) for p in skipped[:5]) + (" ..." if len(skipped) > 5 else "")
        print(f"warning: skipped {len(skipped)} image(s) that cannot be decoded: {shown}", file=sys.stderr)
    text = predictions_csv(rows) if args.format == "csv" else json.dumps(rows, indent=2) + "\n"
    if output is not None:
        output.write_text(text, encoding="utf-8")
        print(f"{len(rows)} predictions written to {args.output}")
    else:
        sys.stdout.write(text)
    return 0
