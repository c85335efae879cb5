"""The `_native.pyi` stub must describe the built module: every public name
in the module is in the stub and vice versa, classes have the same public
members, and every function, method and constructor takes the parameters
the stub says (names, kinds, which have defaults, literal defaults), read
from the native `__text_signature__`. Keeps `mypy --strict` honest about
the native layer: the stub cannot drift."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path
from typing import Any

import pytest

import limen._native as native

STUB = Path(__file__).resolve().parent.parent / "python" / "limen" / "_native.pyi"
#: Type aliases that exist only for the type checker.
STUB_ONLY = {"OutputColumnTuple", "OutputPlanTuple", "HttpRequestTuple", "HttpResponseTuple"}
#: Members every exception class has (declared in the stub for mypy only).
EXCEPTION_MEMBERS = {"args", "with_traceback", "add_note"}
NO_DEFAULT = object()
UNKNOWN_DEFAULT = object()


def _tree() -> ast.Module:
    return ast.parse(STUB.read_text())


def _stub_names() -> dict[str, set[str]]:
    names: dict[str, set[str]] = {}
    for node in _tree().body:
        if isinstance(node, ast.ClassDef):
            members: set[str] = set()
            for item in node.body:
                if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef):
                    members.add(item.name)
                elif isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name):
                    members.add(item.target.id)
                elif isinstance(item, ast.Assign):
                    members.update(t.id for t in item.targets if isinstance(t, ast.Name))
            names[node.name] = {m for m in members if not m.startswith("_")}
        elif isinstance(node, ast.FunctionDef):
            names[node.name] = set()
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names[node.target.id] = set()
        elif isinstance(node, ast.Assign):
            for t in node.targets:
                if isinstance(t, ast.Name) and t.id not in STUB_ONLY:
                    names[t.id] = set()
    return names


def _module_names() -> dict[str, set[str]]:
    names: dict[str, set[str]] = {}
    for name, value in vars(native).items():
        if name.startswith("_") and name != "__version__":
            continue
        if inspect.isclass(value):
            names[name] = {m for m in dir(value) if not m.startswith("_")}
            if issubclass(value, BaseException):
                names[name] &= EXCEPTION_MEMBERS
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


def test_stub_unions_are_the_module_unions() -> None:
    """`ClientMessage = A | B | ...` in the stub is the same union at runtime."""
    for node in _tree().body:
        if not isinstance(node, ast.Assign) or not isinstance(node.value, ast.BinOp):
            continue
        (target,) = node.targets
        assert isinstance(target, ast.Name)
        if target.id in STUB_ONLY:
            continue
        declared = set(_union_members(node.value))
        runtime = {t.__name__ for t in getattr(native, target.id).__args__}
        assert declared == runtime, target.id


def _union_members(node: ast.expr) -> list[str]:
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
        return _union_members(node.left) + _union_members(node.right)
    assert isinstance(node, ast.Name)
    value = getattr(native, node.id)
    if inspect.isclass(value):
        return [node.id]
    return [t.__name__ for t in value.__args__]  # a union named in a union


# --- signatures ---------------------------------------------------------------

Param = tuple[str, inspect._ParameterKind, object]


def _literal(node: ast.expr | None) -> object:
    if node is None:
        return NO_DEFAULT
    if isinstance(node, ast.Constant) and node.value is Ellipsis:
        return UNKNOWN_DEFAULT
    try:
        return ast.literal_eval(node)
    except ValueError:
        return UNKNOWN_DEFAULT


def _stub_params(fn: ast.FunctionDef, *, method: bool) -> list[Param]:
    a = fn.args
    positional: list[tuple[ast.arg, inspect._ParameterKind]] = [
        (p, inspect.Parameter.POSITIONAL_ONLY) for p in a.posonlyargs
    ]
    positional += [(p, inspect.Parameter.POSITIONAL_OR_KEYWORD) for p in a.args]
    defaults: list[ast.expr | None] = [None] * (len(positional) - len(a.defaults))
    defaults += a.defaults
    params: list[Param] = [
        (p.arg, kind, _literal(d)) for (p, kind), d in zip(positional, defaults, strict=True)
    ]
    if a.vararg is not None:
        params.append((a.vararg.arg, inspect.Parameter.VAR_POSITIONAL, NO_DEFAULT))
    for p, d in zip(a.kwonlyargs, a.kw_defaults, strict=True):
        params.append((p.arg, inspect.Parameter.KEYWORD_ONLY, _literal(d)))
    if a.kwarg is not None:
        params.append((a.kwarg.arg, inspect.Parameter.VAR_KEYWORD, NO_DEFAULT))
    return params[1:] if method else params  # self / cls


def _native_params(obj: Any, *, method: bool) -> list[Param]:
    sig = inspect.signature(obj)
    params: list[Param] = []
    for p in sig.parameters.values():
        if p.default is inspect.Parameter.empty:
            default: object = NO_DEFAULT
        elif p.default is Ellipsis:
            default = UNKNOWN_DEFAULT
        else:
            default = p.default
        params.append((p.name, p.kind, default))
    return params[1:] if method else params


def _check(where: str, stub: list[Param], real: list[Param]) -> None:
    assert len(stub) == len(real), f"{where}: stub {stub} != native {real}"
    for (sname, skind, sdef), (rname, rkind, rdef) in zip(stub, real, strict=True):
        # The stub may forbid passing by keyword what the module allows.
        loose = (
            skind is inspect.Parameter.POSITIONAL_ONLY
            and rkind is inspect.Parameter.POSITIONAL_OR_KEYWORD
        )
        assert skind is rkind or loose, f"{where}({sname}): kind {skind} != {rkind}"
        if skind is not inspect.Parameter.POSITIONAL_ONLY:
            assert sname == rname, f"{where}: parameter {sname!r} is {rname!r} natively"
        assert (sdef is NO_DEFAULT) == (rdef is NO_DEFAULT), f"{where}({sname}): default"
        if UNKNOWN_DEFAULT not in (sdef, rdef):
            assert sdef == rdef, f"{where}({sname}): default {sdef!r} != {rdef!r}"


def _callables() -> list[tuple[str, ast.FunctionDef, Any, bool]]:
    """(where, stub def, native object, is a method) for every callable."""
    out: list[tuple[str, ast.FunctionDef, Any, bool]] = []
    for node in _tree().body:
        if isinstance(node, ast.FunctionDef):
            out.append((node.name, node, getattr(native, node.name), False))
        elif isinstance(node, ast.ClassDef):
            cls = getattr(native, node.name)
            if issubclass(cls, BaseException):
                continue
            for item in node.body:
                if not isinstance(item, ast.FunctionDef):
                    continue
                decorated = {d.id for d in item.decorator_list if isinstance(d, ast.Name)}
                if "property" in decorated or any(
                    isinstance(d, ast.Attribute) for d in item.decorator_list
                ):
                    continue  # getters and setters have no signature to check
                where = f"{node.name}.{item.name}"
                if item.name in ("__new__", "__init__"):
                    out.append((where, item, cls, True))
                elif not item.name.startswith("__"):
                    out.append((where, item, getattr(cls, item.name), True))
    return out


CALLABLES = _callables()


@pytest.mark.parametrize(("where", "fn", "obj", "method"), CALLABLES, ids=[c[0] for c in CALLABLES])
def test_stub_signatures_match_the_module(
    where: str, fn: ast.FunctionDef, obj: Any, method: bool
) -> None:
    stub = _stub_params(fn, method=method)
    # A class's signature is its constructor's, without cls.
    real = _native_params(obj, method=method and not inspect.isclass(obj))
    _check(where, stub, real)


def test_classes_without_a_stub_constructor_have_none() -> None:
    """A class the stub gives no __new__/__init__ cannot be built from
    Python (pyo3 classes without #[new]), and the other way round."""
    for node in _tree().body:
        if not isinstance(node, ast.ClassDef):
            continue
        cls = getattr(native, node.name)
        if issubclass(cls, BaseException):
            continue
        declared = any(
            isinstance(i, ast.FunctionDef) and i.name in ("__new__", "__init__") for i in node.body
        )
        has = getattr(cls, "__text_signature__", None) is not None
        assert declared == has, node.name
