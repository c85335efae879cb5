"""The layout of ``limen.config`` and ``limen.cli.demo`` holds
(docs/architecture.md; no module over 400 lines: tests/test_module_lines.py):
no import cycle among their modules (every import counts: module level,
inside functions, under ``TYPE_CHECKING``), and every name the code base imports from the packages
themselves (``from limen.config import X``) is still there. Read from the
source tree, not from what happens to be imported."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

import limen.config
from layout_support import PACKAGE, ROOT, find_cycle, module_name

PACKAGES = {"limen.config": PACKAGE / "config", "limen.cli.demo": PACKAGE / "cli" / "demo"}


MODULES = {module_name(p): p for d in PACKAGES.values() for p in sorted(d.rglob("*.py"))}


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


def test_the_packages_are_split() -> None:
    assert len([m for m in MODULES if m.startswith("limen.config.")]) >= 10
    assert len([m for m in MODULES if m.startswith("limen.cli.demo.")]) >= 5


def test_no_import_cycle() -> None:
    cycle = find_cycle(GRAPH)
    assert cycle is None, " -> ".join(cycle or [])


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
