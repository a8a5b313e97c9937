"""``hicropl --help`` and ``--version`` answer at once: neither imports torch."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import hicropl
from hicropl.cli import build_parser, main

SRC = Path(hicropl.__file__).resolve().parents[1]
# Every command's and subcommand's help, then the facts the test reads, as one JSON line.
PROBE = """
import contextlib, io, json, sys, time
start = time.perf_counter()
from hicropl.cli import build_parser, main
helps = [[], ["toyworld"], ["toyworld", "prepare"], ["toyworld", "pretrain"], ["data", "check"]]
helps += [[name] for name in next(a for a in build_parser()._actions if a.dest == "command").choices]
for words in helps:
    with contextlib.redirect_stdout(io.StringIO()):
        try:
            main([*words, "--help"])
        except SystemExit:
            pass
print(json.dumps({"seconds": time.perf_counter() - start, "heavy": sorted(
    name for name in ("torch", "numpy", "open_clip", "torchvision", "PIL") if name in sys.modules)}))
"""


def test_help_imports_no_torch_and_is_quick() -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    facts = json.loads(done.stdout.strip().splitlines()[-1])
    assert facts["heavy"] == []
    # Importing torch alone takes seconds; all the help pages together take a fraction of one on an idle machine.
    assert facts["seconds"] < 5.0, facts


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.strip() == f"hicropl {hicropl.__version__}"
    assert "--version" in build_parser().format_help()


def test_the_toyworld_commands_have_help_and_examples() -> None:
    commands = next(a for a in build_parser()._actions if a.dest == "command").choices
    toyworld = commands["toyworld"]
    assert "examples:" in toyworld.format_help() and "hicropl toyworld prepare --data-root" in toyworld.format_help()
    subcommands = next(a for a in toyworld._actions if a.dest == "toyworld_command").choices
    for name in ("prepare", "pretrain"):
        text = subcommands[name].format_help()
        assert "examples:" in text and f"hicropl toyworld {name} " in text, name


def test_demo_settings_name_the_toyworld_datasets() -> None:
    from hicropl.data.toyworld.datasets import TOYWORLD_DATASETS
    from hicropl.toyworld.demo_settings import TOYWORLD_DATASET_NAMES

    assert tuple(d.name for d in TOYWORLD_DATASETS) == TOYWORLD_DATASET_NAMES
