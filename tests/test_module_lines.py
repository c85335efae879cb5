"""No module of the ``limen`` package is over 400 lines
(docs/architecture.md: split it by job). Read from the source tree."""

from __future__ import annotations

import pytest

from layout_support import MAX_LINES, PACKAGE, module_name

MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def test_the_check_sees_the_package() -> None:
    assert "limen.gateway.session" in MODULES
    assert "limen.config" in MODULES
    assert "limen.policy.colplan" in MODULES


@pytest.mark.parametrize("name", sorted(MODULES))
def test_no_module_is_too_long(name: str) -> None:
    lines = len(MODULES[name].read_text().splitlines())
    assert lines <= MAX_LINES, f"{name} has {lines} lines (at most {MAX_LINES}: split it by job)"
