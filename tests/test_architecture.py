"""The floor plan's walls, checked from the source with `ast` (nothing is imported or run).

- core (`engine/core/`) imports no SQLAlchemy, Alembic, click, APScheduler, notifications, app
  or store: it decides, the edges do;
- only `engine/store/` imports SQLAlchemy or Alembic;
- nothing below the CLI (`engine/`, `notifications/`, `workflows/`) imports `cli` or `commands`;
- no import cycles between rectify's modules;
- no source module over 400 lines.

An import counts wherever it is written (module level or inside a function: a lazy import is
still a dependency), except under `if TYPE_CHECKING:`, which never runs. Migrations
(`engine/store/migrations/`) are store code; tests and bench are not checked.
"""

from __future__ import annotations

import ast
import functools
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = "rectify"
SOURCE_DIRS = ("engine", "notifications", "commands", "workflows", "web")
MAX_LINES = 400

CORE = "rectify.engine.core"
STORE = "rectify.engine.store"
BELOW_CLI = ("rectify.engine", "rectify.notifications", "rectify.workflows")
CLI = ("rectify.cli", "rectify.commands")
SQL = ("sqlalchemy", "alembic")
NOT_IN_CORE = (*SQL, "click", "apscheduler", "rectify.notifications", "rectify.engine.app",
               "rectify.engine.store")

# Known violations, each (rule, module, what it imports), with why each is tolerated. Empty
# since the store branch landed (one event writer, all SQL in engine/store/). The list may only
# shrink: a test below fails when an entry no longer happens, so it is taken off.
KNOWN_VIOLATIONS: frozenset[tuple[str, str, str]] = frozenset()


@dataclass(frozen=True)
class Import:
    module: str  # the importing module, dotted from `rectify`
    target: str  # the imported module, absolute
    line: int


def module_name(path: Path) -> str:
    parts = [PACKAGE, *path.relative_to(ROOT).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def source_files() -> list[Path]:
    files = [ROOT / "cli.py", ROOT / "__init__.py"]
    for folder in SOURCE_DIRS:
        files += sorted((ROOT / folder).rglob("*.py"))
    return [f for f in files if f.exists()]


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _walk_runtime(node: ast.AST) -> Iterator[ast.AST]:
    """Every node except what sits under `if TYPE_CHECKING:` (never executed)."""
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.If) and _is_type_checking(child):
            for other in child.orelse:
                yield other
                yield from _walk_runtime(other)
            continue
        yield child
        yield from _walk_runtime(child)


def _resolve(module: str, is_package: bool, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    base = module.split(".")
    base = base if is_package else base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, node.module] if node.module else base)


def imports_of(path: Path, tree: ast.AST | None = None) -> list[Import]:
    """The modules `path` imports; `from pkg import mod` counts as pkg.mod when mod is one."""
    module, is_package = module_name(path), path.name == "__init__.py"
    tree = tree or ast.parse(path.read_text(encoding="utf-8"))
    found = []
    for node in _walk_runtime(tree):
        if isinstance(node, ast.Import):
            found += [Import(module, alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            target = _resolve(module, is_package, node)
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                found.append(Import(module, sub if sub in modules() else target, node.lineno))
    return found


@functools.cache
def modules() -> frozenset[str]:
    return frozenset(module_name(f) for f in source_files())


@functools.cache
def all_imports() -> tuple[Import, ...]:
    return tuple(i for f in source_files() for i in imports_of(f))


def _within(name: str, prefixes: tuple[str, ...] | str) -> bool:
    prefixes = (prefixes,) if isinstance(prefixes, str) else prefixes
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def violations(imports: tuple[Import, ...] | list[Import]) -> set[tuple[str, str, str]]:
    """(rule, module, imported top name) for every import that breaks an import rule."""
    found = set()
    for imp in imports:
        top = next((p for p in (*NOT_IN_CORE, *CLI) if _within(imp.target, p)), imp.target)
        if _within(imp.module, CORE) and _within(imp.target, NOT_IN_CORE):
            found.add(("core imports an edge", imp.module, top))
        if _within(imp.target, SQL) and not _within(imp.module, STORE):
            found.add(("sql outside store", imp.module, top))
        if _within(imp.module, BELOW_CLI) and _within(imp.target, CLI):
            found.add(("below the cli imports it", imp.module, top))
    return found


def cycles(imports: tuple[Import, ...] | list[Import]) -> list[list[str]]:
    """Strongly connected groups of more than one module (Tarjan), each sorted."""
    graph: dict[str, set[str]] = {m: set() for m in modules()}
    for imp in imports:
        if imp.target in graph and imp.target != imp.module:
            graph[imp.module].add(imp.target)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    groups: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in graph[node]:
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return groups


def test_the_checker_sees_rectify():
    """The checker finds rectify's modules and their imports, so an empty result means
    something (a wrong root would pass every rule vacuously)."""
    assert {"rectify.cli", "rectify.engine.core.machine", "rectify.engine.store.db",
            "rectify.commands.items", "rectify.notifications.dispatch"} <= modules()
    targets = {i.target for i in all_imports() if i.module == "rectify.engine.store.db"}
    assert "sqlalchemy" in targets


def test_import_rules_hold_apart_from_the_known_violations():
    """Core imports no edge, only store imports SQLAlchemy, nothing below the CLI imports it;
    the only exceptions are the listed, explained KNOWN_VIOLATIONS."""
    new = violations(all_imports()) - KNOWN_VIOLATIONS
    assert not new, "import rules broken:\n" + "\n".join(
        f"  {rule}: {module} imports {what}" for rule, module, what in sorted(new))


def test_every_known_violation_still_happens():
    """KNOWN_VIOLATIONS can only shrink: an entry that no longer happens must be taken off."""
    gone = KNOWN_VIOLATIONS - violations(all_imports())
    assert not gone, "fixed, take off KNOWN_VIOLATIONS:\n" + "\n".join(
        f"  {rule}: {module} imports {what}" for rule, module, what in sorted(gone))


def test_no_import_cycles():
    """No two modules import each other, directly or round a longer loop."""
    found = cycles(all_imports())
    assert not found, "import cycles:\n" + "\n".join("  " + " <-> ".join(c) for c in found)


def test_no_source_module_over_400_lines():
    """Every source module stays under the size a reader holds in their head."""
    big = {module_name(f): n for f in source_files()
           if (n := len(f.read_text(encoding="utf-8").splitlines())) > MAX_LINES}
    assert not big, f"modules over {MAX_LINES} lines: {big}"


@pytest.mark.parametrize(("module", "source", "rule"), [
    ("engine/core/machine.py", "import sqlalchemy\n", "core imports an edge"),
    ("engine/core/machine.py", "from ...notifications import dispatch\n",
     "core imports an edge"),
    ("engine/core/machine.py", "from ..app.service import Service\n", "core imports an edge"),
    ("engine/ledgers/read.py", "from sqlalchemy import select\n", "sql outside store"),
    ("notifications/dispatch.py", "from ..commands.support import run\n",
     "below the cli imports it"),
    ("engine/app/runtime.py", "def f():\n    from ...cli import cli\n",
     "below the cli imports it"),
])
def test_the_rules_catch_a_new_import(module: str, source: str, rule: str):
    """Each rule fires on an import written where it is not allowed, at module level or lazily
    inside a function; the same import under TYPE_CHECKING does not count."""
    path = ROOT / module
    added = imports_of(path, ast.parse(source))
    assert rule in {r for r, _, _ in violations(added)}
    guarded = "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n" + "".join(
        "    " + line + "\n" for line in source.splitlines())
    assert not violations(imports_of(path, ast.parse(guarded)))


def test_a_cycle_is_found():
    """Two modules importing each other form a cycle the check reports."""
    made_up = [Import("rectify.engine.core.machine", "rectify.engine.core.spec", 1),
               Import("rectify.engine.core.spec", "rectify.engine.core.machine", 1)]
    assert ["rectify.engine.core.machine", "rectify.engine.core.spec"] in cycles(made_up)


def test_every_test_has_a_docstring():
    """Every test function in tests/ says in a docstring what it proves."""
    bare = []
    for path in sorted((ROOT / "tests").glob("test_*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
                    and node.name.startswith("test") and not ast.get_docstring(node)):
                bare.append(f"{path.name}:{node.lineno} {node.name}")
    assert not bare, "tests without a docstring:\n  " + "\n  ".join(bare)
