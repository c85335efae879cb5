"""The `_native.pyi` stub must describe the built module: every public name
in the module is in the stub and vice versa, and classes have the same public
members. Keeps `mypy --strict` honest about the native layer."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import limen._native as native

STUB = Path(__file__).resolve().parent.parent / "python" / "limen" / "_native.pyi"


def _stub_names() -> dict[str, set[str]]:
    tree = ast.parse(STUB.read_text())
    names: dict[str, set[str]] = {}
    for node in tree.body:
        if isinstance(node, ast.ClassDef):
            members: set[str] = set()
            for item in node.body:
                if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef):
                    members.add(item.name)
                elif isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name):
                    members.add(item.target.id)
            names[node.name] = {m for m in members if not m.startswith("_")}
        elif isinstance(node, ast.FunctionDef):
            names[node.name] = set()
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names[node.target.id] = set()
    return names


def _module_names() -> dict[str, set[str]]:
    names: dict[str, set[str]] = {}
    for name, value in vars(native).items():
        if name.startswith("_") and name != "__version__":
            continue
        if inspect.isclass(value):
            names[name] = {m for m in dir(value) if not m.startswith("_")}
        else:
            names[name] = set()
    return names


def test_stub_lists_every_module_name() -> None:
    stub, module = _stub_names(), _module_names()
    assert set(stub) == set(module), (
        f"only in stub: {sorted(set(stub) - set(module))}; "
        f"only in module: {sorted(set(module) - set(stub))}"
    )


def test_stub_classes_have_the_module_members() -> None:
    stub, module = _stub_names(), _module_names()
    for name, members in module.items():
        if inspect.isclass(getattr(native, name)):
            assert stub[name] == members, name
