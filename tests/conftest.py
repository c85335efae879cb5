"""The PostgreSQL gateway's test modules run twice: once with the native
pump moving the bytes after the handshake (``[gateway] relay = "native"``,
the default) and once with the Trio relay (``relay = "trio"``): every test
of those modules that runs a gateway (it uses the ``database`` fixture)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import gateway_pg_support

RELAY_MODULES = {
    "test_gateway_pg",
    "test_gateway_pg_clients",
    "test_gateway_pg_serve",
    "test_gateway_pg_upstream_auth",
    "test_gateway_pg_pump",
    "test_gateway_pg_approvals",
    "test_gateway_pg_large",
    "test_gateway_pg_columns",
}


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if metafunc.module.__name__ in RELAY_MODULES and "database" in metafunc.fixturenames:
        metafunc.parametrize("pg_relay", ["native", "trio"], indirect=True)


@pytest.fixture(autouse=True)
def pg_relay(request: pytest.FixtureRequest) -> Iterator[str]:
    relay = str(getattr(request, "param", "native"))
    before = gateway_pg_support.RELAY
    gateway_pg_support.RELAY = relay
    try:
        yield relay
    finally:
        gateway_pg_support.RELAY = before
