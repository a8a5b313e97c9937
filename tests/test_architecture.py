"""The layering of docs/architecture.md, checked on the imports of every source module.

Each package may import only itself and the layers below it. The check reads the import
statements (``import x`` and ``from x import y``, also inside functions), so a lazy import that
runs back up is caught like a top-level one.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "hicropl"

FOUNDATION = {"errors", "typed_config", "atomic", "checksums", "precision"}
# Package (first name under hicropl) -> the packages it may import besides itself and FOUNDATION.
ALLOWED: dict[str, set[str]] = {
    **{name: set() for name in FOUNDATION},
    "clip": set(),
    "data": set(),
    "methods": {"clip", "data"},
    "results": {"data"},
    "engine": {"clip", "data", "methods", "results"},
    "toyworld": {"clip", "data", "methods", "results", "engine"},
    "cli": {"clip", "data", "methods", "results", "engine", "toyworld"},
    "__init__": {"clip", "methods"},
}


def _layer(module: Path) -> str:
    parts = module.relative_to(SRC).with_suffix("").parts
    return parts[0]


def _imported_layers(module: Path) -> set[tuple[str, int]]:
    tree = ast.parse(module.read_text("utf-8"), filename=str(module))
    found = set()
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
            if node.module == "hicropl":
                names = [f"hicropl.{alias.name}" for alias in node.names]
        for name in names:
            parts = name.split(".")
            if parts[0] == "hicropl" and len(parts) > 1:
                found.add((parts[1], node.lineno))
    return found


def _modules() -> list[Path]:
    return sorted(path for path in SRC.rglob("*.py"))


@pytest.mark.parametrize("module", _modules(), ids=lambda p: str(p.relative_to(SRC)))
def test_imports_point_down(module: Path) -> None:
    layer = _layer(module)
    assert layer in ALLOWED, f"{module.relative_to(SRC)}: package {layer!r} has no place in the layering"
    allowed = ALLOWED[layer] | FOUNDATION | {layer}
    wrong = sorted((target, line) for target, line in _imported_layers(module) if target not in allowed)
    assert not wrong, f"{module.relative_to(SRC)} imports {wrong} (layer {layer!r} may import {sorted(allowed)})"


def test_every_package_is_placed() -> None:
    packages = {_layer(path) for path in _modules()}
    assert packages <= set(ALLOWED), sorted(packages - set(ALLOWED))


def test_checker_sees_lazy_imports(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text("def f():\n    from hicropl.cli import main\n    import hicropl.engine.run\n")
    assert {name for name, _ in _imported_layers(module)} == {"cli", "engine"}
