"""The PostgreSQL gateway's test modules (and the key MySQL ones) run twice: once with the native
pump moving the bytes after the handshake (``[gateway] relay = "native"``,
the default) and once with the Trio relay (``relay = "trio"``): every test
of those modules that runs a gateway (it uses the ``database`` fixture).
The modules of :data:`TLS_MODULES` run twice more, with a TLS listener and
clients on ``sslmode=require`` ("native-tls", "trio-tls").

Tests that need the PostgreSQL on 127.0.0.1:5432 get the ``pg`` marker here
(``make test-fast`` runs ``pytest -m "not pg"``): those using a fixture that
makes a database, those parametrized with a ``postgresql`` state store, and
every test of the modules that connect on their own.

Hypothesis runs without a per-example deadline: the properties are about
results, never time, and CI's machine is shared (a loaded core made
examples "flaky" by the clock alone)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hypothesis import settings

import gateway_mysql_support
import gateway_pg_support

settings.register_profile("limen", deadline=None)
settings.load_profile("limen")

RELAY_MODULES = {
    "test_gateway_pg",
    "test_gateway_pg_clients",
    "test_gateway_pg_serve",
    "test_gateway_pg_upstream_auth",
    "test_gateway_pg_pump",
    "test_gateway_pg_approvals",
    "test_gateway_pg_large",
    "test_gateway_pg_secrets",
    "test_gateway_pg_reuse",
    "test_gateway_pg_twins",
    "test_gateway_pg_columns",
    "test_gateway_pg_recording",
    "test_gateway_pg_tls",
    "test_gateway_pg_unnamed",
    "test_reload",
}

#: Relay modules whose tests also run with client TLS, on both relays.
TLS_MODULES = {
    "test_gateway_pg",
    "test_gateway_pg_pump",
    "test_gateway_pg_approvals",
    "test_gateway_pg_recording",
    "test_gateway_pg_large",
    "test_gateway_pg_tls",
    "test_gateway_pg_unnamed",
}
#: MySQL gateway modules run on both relays too (those of their tests that
#: use the ``mydb`` fixture).
MYSQL_RELAY_MODULES = {
    "test_gateway_mysql",
    "test_gateway_mysql_policy",
    "test_gateway_mysql_clients",
    "test_gateway_mysql_secrets",
}

#: Fixtures that create or reach a database on the local PostgreSQL.
PG_FIXTURES = {"database", "state_url", "demo_db"}
#: Modules whose tests reach the local PostgreSQL without such a fixture.
PG_MODULES = {"test_policy_postgres", "test_autogen_example"}
#: A parameter with this value selects a PostgreSQL state store.
PG_PARAM = "postgresql"


def needs_postgres(item: pytest.Item) -> bool:
    module = getattr(item, "module", None)
    if module is not None and module.__name__ in PG_MODULES:
        return True
    if PG_FIXTURES & set(getattr(item, "fixturenames", ())):
        return True
    callspec = getattr(item, "callspec", None)
    return callspec is not None and PG_PARAM in callspec.params.values()


@pytest.hookimpl(tryfirst=True)  # before `-m` deselects by marker
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if needs_postgres(item):
            item.add_marker(pytest.mark.pg)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    name = metafunc.module.__name__
    if name in RELAY_MODULES and "database" in metafunc.fixturenames:
        relays = ["native", "trio"]
        if name in TLS_MODULES:
            relays += ["native-tls", "trio-tls"]
        metafunc.parametrize("pg_relay", relays, indirect=True)
    if name in MYSQL_RELAY_MODULES and "mydb" in metafunc.fixturenames:
        metafunc.parametrize("my_relay", ["native", "trio"], indirect=True)


@pytest.fixture(autouse=True)
def pg_relay(request: pytest.FixtureRequest) -> Iterator[str]:
    relay = str(getattr(request, "param", "native"))
    before = gateway_pg_support.RELAY, gateway_pg_support.TLS
    gateway_pg_support.RELAY = relay.removesuffix("-tls")
    gateway_pg_support.TLS = relay.endswith("-tls")
    try:
        yield relay
    finally:
        gateway_pg_support.RELAY, gateway_pg_support.TLS = before


@pytest.fixture(autouse=True)
def my_relay(request: pytest.FixtureRequest) -> Iterator[str]:
    relay = str(getattr(request, "param", "native"))
    before = gateway_mysql_support.RELAY
    gateway_mysql_support.RELAY = relay
    try:
        yield relay
    finally:
        gateway_mysql_support.RELAY = before
