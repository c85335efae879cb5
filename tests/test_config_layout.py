"""The layout of ``limen.config`` and ``limen.cli.demo`` holds
(docs/architecture.md): no module over 400 lines, no import cycle among
their modules (every import counts: module level, inside functions, under
``TYPE_CHECKING``), and every name the code base imports from the packages
themselves (``from limen.config import X``) is still there. Read from the
source tree, not from what happens to be imported."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

import limen.config

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "python" / "limen"
PACKAGES = {"limen.config": PACKAGE / "config", "limen.cli.demo": PACKAGE / "cli" / "demo"}
MAX_LINES = 400


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {_module_name(p): p for d in PACKAGES.values() for p in sorted(d.rglob("*.py"))}


def _imports(name: str, path: Path) -> set[str]:
    """The modules of MODULES that ``name`` imports anywhere in its source
    (``from pkg import sub`` is an edge to ``pkg.sub`` when that is a module;
    a package's own ``__init__`` running first is not an edge)."""
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            assert not node.level, f"{name}: use absolute imports"
            base = node.module or ""
            targets = [
                f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base for a in node.names
            ]
        else:
            continue
        out.update(t for t in targets if t in MODULES and t != name)
    return out


GRAPH = {name: _imports(name, path) for name, path in MODULES.items()}


def _cycle() -> list[str] | None:
    state: dict[str, int] = {}  # 1: on the stack, 2: done
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(GRAPH[node]):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt) :], nxt]
            if nxt not in state and (found := visit(nxt)) is not None:
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(GRAPH):
        if node not in state and (found := visit(node)) is not None:
            return found
    return None


def test_the_packages_are_split() -> None:
    assert len([m for m in MODULES if m.startswith("limen.config.")]) >= 10
    assert len([m for m in MODULES if m.startswith("limen.cli.demo.")]) >= 5


@pytest.mark.parametrize("name", sorted(MODULES))
def test_module_is_under_the_line_limit(name: str) -> None:
    lines = len(MODULES[name].read_text().splitlines())
    assert lines <= MAX_LINES, f"{name}: {lines} lines (split it by job)"


def test_no_import_cycle() -> None:
    assert _cycle() is None, " -> ".join(_cycle() or [])


def _names_imported_from(package: str) -> set[str]:
    """Every ``X`` of ``from PACKAGE import X`` in python/, tests/,
    benchmarks/ and examples/ (outside the package itself)."""
    names: set[str] = set()
    for folder in ("python", "tests", "benchmarks", "examples"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            if path.is_relative_to(PACKAGES[package]):
                continue
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if isinstance(node, ast.ImportFrom) and node.module == package:
                    names.update(alias.name for alias in node.names)
    return names


@pytest.mark.parametrize("package", sorted(PACKAGES))
def test_the_package_keeps_every_name_the_code_imports(package: str) -> None:
    module = importlib.import_module(package)
    wanted = _names_imported_from(package)
    assert wanted
    missing = sorted(n for n in wanted if not hasattr(module, n))
    assert not missing, f"{package} lost {missing}"
    exported = set(getattr(module, "__all__", ()))
    assert all(hasattr(module, n) for n in exported)


def test_config_exports_what_it_always_did() -> None:
    assert {
        "ALLOWED_ALGORITHMS",
        "MYSQL_DANGERS",
        "STATEMENT_CLASSES",
        "Address",
        "ByteSize",
        "Config",
        "ConfigError",
        "DevClient",
        "DevIdPConfig",
        "Duration",
        "GatewayConfig",
        "IdentityConfig",
        "Issue",
        "ListenersConfig",
        "OIDCConfig",
        "Resource",
        "Rule",
        "Secret",
        "SecretError",
        "StaticKey",
        "UpstreamTLS",
        "check",
        "is_loopback_host",
        "known_detectors",
        "load_config",
        "load_config_data",
        "load_config_text",
    } == set(limen.config.__all__)
    for name in ("MaskRuleConfig", "PROTOCOLS", "sqlite_path", "StatementClass"):
        assert hasattr(limen.config, name), name


def test_demo_keeps_the_names_the_tests_reach_through_the_module() -> None:
    demo = importlib.import_module("limen.cli.demo")
    for name in ("USERS", "prepare_database", "register", "run", "Steps", "bot_script"):
        assert hasattr(demo, name), name
