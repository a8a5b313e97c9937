"""Running ``hicropl`` in-process, with the tiny CLIP checkpoint and small settings."""

from __future__ import annotations

from pathlib import Path

from hicropl.cli import main

FAST = [
    "--shots",
    "2",
    "--quiet",
    "--set",
    "train.epochs=1",
    "--set",
    "train.batch_size=2",
    "--set",
    "train.num_workers=0",
    "--set",
    "train.eval_batch_size=8",
]


def run_cli(capsys, *args: object) -> tuple[int, str, str]:
    code = main([str(a) for a in args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def train_args(output: Path, data_root: Path, clip: Path, *extra: object, method: str = "test_head") -> list:
    return [
        "train",
        "--method",
        method,
        "--dataset",
        "EuroSAT",
        "--protocol",
        "base2novel",
        "--seed",
        "1",
        "--data-root",
        data_root,
        "--clip",
        clip,
        "--output",
        output,
        *FAST,
        *extra,
    ]
