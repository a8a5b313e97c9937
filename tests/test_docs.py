"""The README and the other pages say only what ships: config names that resolve, a protocol table that
matches the shipped files, and nothing that points outside the repository."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import pytest

from hicropl.cli import build_parser
from hicropl.engine.config_files import packaged_config, packaged_config_names

ROOT = Path(__file__).resolve().parents[1]
PAGES = sorted(
    [
        ROOT / "README.md",
        ROOT / "CONTRIBUTING.md",
        ROOT / "DATASETS.md",
        *(ROOT / "docs").glob("*.md"),
        *(ROOT / "benchmarks").glob("*.md"),
        *(ROOT / "src" / "hicropl" / "configs").rglob("README.md"),
    ]
)
CONFIG_FLAG = re.compile(r"--(?:config|file)[ =]([A-Za-z0-9_./<>-]+)")


def _help_texts() -> str:
    """The help of the command and of every subcommand, at every depth."""
    texts, pending = [], [build_parser()]
    while pending:
        parser = pending.pop()
        texts.append(parser.format_help())
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                pending.extend(action.choices.values())
    return "\n".join(texts)


def _shipped_names_in(text: str) -> list[str]:
    """``--config`` / ``--file`` values that name a shipped config (not a user's file or a placeholder)."""
    names = []
    for value in CONFIG_FLAG.findall(text):
        if "<" in value or value.startswith(("~", "/", ".")) or "/" not in value:
            continue
        names.append(value)
    return names


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_config_names_in_the_pages_are_shipped(page: Path) -> None:
    names = _shipped_names_in(page.read_text("utf-8"))
    missing = [name for name in names if packaged_config(name) is None or name.startswith("configs/")]
    assert not missing, f"{page.name} names configs that do not ship under those names: {missing}"


def test_config_names_in_the_command_help_are_shipped() -> None:
    names = _shipped_names_in(_help_texts())
    assert "hicropl/base2novel" in names and "sweeps/hicropl_base2novel" in names
    assert not [name for name in names if packaged_config(name) is None or name.startswith("configs/")]


def test_readme_protocol_table_lists_exactly_the_shipped_configs() -> None:
    readme = (ROOT / "README.md").read_text("utf-8")
    shipped = set(packaged_config_names())
    rows = [
        line for line in readme.splitlines() if re.match(r"\| `(base2novel|fewshot|cross_dataset|domain_gen)", line)
    ]
    assert len(rows) == 4
    for row in rows:
        protocol = row.split("`")[1]
        listed = re.search(rf"`<method>/{protocol}` for ([a-z_, ]+)", row)
        assert listed, row
        claimed = {name.strip() for name in listed.group(1).split(",")}
        having = {name.split("/")[0] for name in shipped if name.endswith(f"/{protocol}") and "toyworld" not in name}
        assert claimed == having, (protocol, sorted(claimed ^ having))


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_pages_point_at_nothing_outside_the_repository(page: Path) -> None:
    text = page.read_text("utf-8")
    assert not re.search(r"\bissues?\b", text, flags=re.I), f"{page.name} mentions an issue"
    assert "../shared" not in text and "shared/" not in text
