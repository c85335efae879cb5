"""The gateway's layout holds (docs/architecture.md): no import cycle among
``limen.gateway`` modules (every import counts: module level, inside
functions, under ``TYPE_CHECKING``), and no module reaches into another
object's private attributes (no module over 400 lines:
tests/test_module_lines.py). Read from the source tree, not from what
happens to be imported."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from layout_support import PACKAGE, find_cycle, module_name

GATEWAY = PACKAGE / "gateway"
MODULES = {module_name(p): p for p in sorted(GATEWAY.rglob("*.py"))}


def _imports(name: str, path: Path) -> set[str]:
    """The limen.gateway modules ``name`` imports anywhere in its source.
    ``from pkg import sub`` counts as importing ``pkg.sub`` when that is a
    module (a package's own ``__init__`` running first is not an edge)."""
    tree = ast.parse(path.read_text(), str(path))
    is_package = path.name == "__init__.py"
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = name.split(".") if is_package else name.split(".")[:-1]
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, *([base] if base else [])])
            targets = []
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                targets.append(sub if sub in MODULES else base)
        else:
            continue
        out.update(t for t in targets if t in MODULES and t != name)
    return out


GRAPH = {name: _imports(name, path) for name, path in MODULES.items()}


def _cycle() -> list[str] | None:
    """One import cycle, if there is one."""
    return find_cycle(GRAPH)


def test_the_checks_see_the_gateway() -> None:
    assert "limen.gateway.session" in MODULES
    assert "limen.gateway.postgres.session" in MODULES
    # the driver imports the skeleton, never the other way
    assert "limen.gateway.session" in GRAPH["limen.gateway.postgres.session"]
    assert "limen.gateway.postgres.session" in GRAPH["limen.gateway.server"] | {
        m for m in GRAPH["limen.gateway.server"] for m in GRAPH[m]
    }


def test_no_import_cycle_among_gateway_modules() -> None:
    cycle = _cycle()
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_the_cycle_check_finds_a_cycle() -> None:
    """The check itself: a back edge from the skeleton to a driver is a cycle."""
    GRAPH["limen.gateway.session"].add("limen.gateway.postgres.session")
    try:
        assert _cycle() is not None
    finally:
        GRAPH["limen.gateway.session"].discard("limen.gateway.postgres.session")


@pytest.mark.parametrize("name", sorted(MODULES))
def test_no_gateway_module_reaches_into_private_attributes(name: str) -> None:
    """``x._name`` only on ``self`` / ``cls`` (and never across modules)."""
    tree = ast.parse(MODULES[name].read_text())
    bad = [
        f"line {node.lineno}: {ast.unparse(node)}"
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute)
        and node.attr.startswith("_")
        and not node.attr.startswith("__")
        and not (isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"))
    ]
    assert not bad, f"{name} reaches into private attributes: {bad}"


@pytest.mark.parametrize("name", sorted(MODULES))
def test_no_gateway_module_imports_inside_a_function(name: str) -> None:
    """Imports are at module level, where the cycle check and a reader see
    them (an import inside a function is how a cycle gets hidden)."""
    tree = ast.parse(MODULES[name].read_text())
    bad = [
        f"line {inner.lineno}: {ast.unparse(inner)}"
        for node in ast.walk(tree)
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
        for inner in ast.walk(node)
        if isinstance(inner, (ast.Import, ast.ImportFrom))
    ]
    assert not bad, f"{name} imports inside a function: {bad}"
