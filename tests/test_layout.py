"""The package's layout is its architecture: checked, so it stays readable.

No import cycles; no module that nothing imports (entry points aside); no view importing
another view; no module over 400 lines; every install_requires entry imported by the package.
"""

from __future__ import annotations

import ast
import configparser
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "geoapi"
MAX_LINES = 400
# Imported by no module, on purpose: the package itself, its subpackages, the console script.
ENTRY_POINTS = {
    "geoapi",
    "geoapi.api",
    "geoapi.store",
    "geoapi.mapillary",
    "geoapi.cli",
    "geoapi.cli.main",
}
# Distribution name -> import name, where they differ.
IMPORT_NAMES = {"psycopg2-binary": "psycopg2", "requests-oauthlib": "requests_oauthlib"}


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def _imports(path: Path) -> set[str]:
    """The geoapi modules (and top-level packages) ``path`` imports, at any depth."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                submodule = f"{node.module}.{alias.name}"
                found.add(submodule if submodule in MODULES else node.module)
    return found


GRAPH = {
    name: {target for target in _imports(path) if target in MODULES and target != name}
    for name, path in MODULES.items()
}


def test_no_import_cycles() -> None:
    state: dict[str, int] = {}  # 1: on the stack, 2: done
    cycles: list[list[str]] = []

    def visit(name: str, stack: list[str]) -> None:
        state[name] = 1
        for target in sorted(GRAPH[name]):
            if state.get(target) == 1:
                cycles.append([*stack[stack.index(target) :], target])
            elif target not in state:
                visit(target, [*stack, target])
        state[name] = 2

    for name in sorted(GRAPH):
        if name not in state:
            visit(name, [name])
    assert not cycles, "import cycles: " + "; ".join(" -> ".join(c) for c in cycles)


def test_every_module_is_imported_by_another() -> None:
    imported = {target for targets in GRAPH.values() for target in targets}
    orphans = sorted(set(MODULES) - imported - ENTRY_POINTS)
    assert not orphans, f"modules nothing imports: {orphans}"


def test_no_view_imports_another_view() -> None:
    views = {name for name in MODULES if name.startswith("geoapi.api.") and "._" not in name}
    views.discard("geoapi.api")
    offenders = sorted(
        f"{name} -> {target}" for name in views for target in GRAPH[name] if target in views
    )
    assert not offenders, offenders


@pytest.mark.parametrize("name", sorted(MODULES))
def test_module_is_small(name: str) -> None:
    lines = len(MODULES[name].read_text(encoding="utf-8").splitlines())
    assert lines <= MAX_LINES, f"{name} has {lines} lines; split it by purpose"


def test_pure_rules_know_no_flask_and_no_sql() -> None:
    pure = ["fields", "bodies", "paging", "times", "tiling", "filters", "geo", "validation"]
    pure += ["taxonomy", "v3export", "synthetic", "crs", "cql2", "ogc", "queryables"]
    for name in pure:
        imported = _imports(MODULES[f"geoapi.{name}"])
        forbidden = {m for m in imported if m.split(".")[0] in ("flask", "sqlalchemy", "werkzeug")}
        forbidden |= {
            m for m in imported if m.startswith(("geoapi.store", "geoapi.api", "geoapi.db"))
        }
        assert not forbidden, f"geoapi.{name} imports {sorted(forbidden)}"


def test_every_install_requirement_is_imported() -> None:
    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg")
    requirements = [
        re.split(r"[<>=!~ \[;]", line.strip())[0]
        for line in config["options"]["install_requires"].splitlines()
        if line.strip()
    ]
    imported = {name.split(".")[0] for path in MODULES.values() for name in _imports(path)}
    missing = [
        req for req in requirements if IMPORT_NAMES.get(req, req).replace("-", "_") not in imported
    ]
    assert not missing, f"declared but imported nowhere in geoapi/: {missing}"
