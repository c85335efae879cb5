"""The configuration schema: documented examples load, every error names its
path, value types parse, secrets stay hidden."""

from __future__ import annotations

import base64
import hashlib
import re
import tomllib
from pathlib import Path
from typing import Any

import msgspec
import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from limen.config import (
    STATEMENT_CLASSES,
    Address,
    ByteSize,
    Config,
    ConfigError,
    Duration,
    Secret,
    SecretError,
    check,
    known_detectors,
    load_config,
    load_config_data,
    load_config_text,
)
from limen.config.values import decode_key32

ROOT = Path(__file__).resolve().parent.parent
INTERFACE = ROOT / "docs" / "interface.md"
TOML_BLOCK = re.compile(r"^```toml\n(.*?)^```", re.DOTALL | re.MULTILINE)


def toml_blocks(markdown: str) -> list[str]:
    return TOML_BLOCK.findall(markdown)


def test_readme_examples_load() -> None:
    blocks = toml_blocks((ROOT / "README.md").read_text())
    assert blocks, "README.md documents the configuration with a TOML example"
    for block in blocks:
        config = load_config_text(block, base_dir=ROOT)
        assert config.resources or config.identity.dev.enabled


def test_interface_example_loads() -> None:
    blocks = toml_blocks(INTERFACE.read_text())
    assert len(blocks) == 1
    # The contract elides the example key's hash ("9f86d081…"); write it out.
    text = blocks[0].replace('"9f86d081…"', f'"{hashlib.sha256(b"test").hexdigest()}"')
    config = load_config_text(text, base_dir=ROOT)
    assert [r.name for r in config.resources] == ["staging", "tickets"]
    assert config.resources[1].http_routes[0].klass == "admin"
    rule = config.rules[0]
    assert (rule.allow, rule.hold, rule.deny) == (["read"], ["write"], ["ddl", "admin"])
    assert rule.hold_timeout == Duration(900)
    assert config.state_dir() == Path("/var/lib/limen")


def test_full_example_loads_with_every_section() -> None:
    config = load_config(ROOT / "examples" / "limen.toml")
    assert config.identity.dev.enabled
    assert config.identity.oidc is not None
    assert {r.protocol for r in config.resources} == {"postgres", "mysql", "http"}
    assert config.gateway.max_message_size == 16 * 1024 * 1024
    assert config.base_dir == str(ROOT / "examples")
    assert config.state_dir() == ROOT / "examples" / ".limen"
    assert [i for i in check(config) if i.severity == "error"] == []


def test_yaml_is_the_same_config() -> None:
    path = ROOT / "examples" / "limen.toml"
    data = tomllib.loads(path.read_text())
    from_yaml = load_config_text(yaml.safe_dump(data), format="yaml", base_dir=path.parent)
    assert from_yaml == load_config(path)


def test_defaults_for_every_limit() -> None:
    config = load_config_text("")
    gw = config.gateway
    assert gw.idle_timeout.seconds > 0
    assert gw.hold_timeout.seconds > 0
    assert gw.max_message_size > 0
    assert gw.max_connections_per_identity > 0
    assert config.identity.max_token_lifetime == Duration(3600)
    assert 0 < config.identity.leeway.seconds <= 300
    assert config.state_dir() == Path.cwd().resolve() / ".limen"
    assert config.dev_key_path().name == "dev-idp-keys.json"
    assert config.recording_key_path() == config.state_dir() / "recording.key"


BASE = """
[identity.dev]
enabled = true
[listeners]
postgres = "127.0.0.1:6432"
[[resources]]
name = "db"
protocol = "postgres"
upstream = "127.0.0.1:5432"
password_env = "DB_PASSWORD"
[[rules]]
name = "r0"
groups = ["ci"]
resources = ["db"]
allow = ["read"]
"""

# (text appended to BASE, the path the error must name, a word it must contain)
ERRORS = [
    ("[gatway]\n", "$.gatway", "gateway"),
    ('[gateway]\nidle_timeout = "5 parsecs"\n', "$.gateway.idle_timeout", "duration"),
    ("[gateway]\nidle_timeout = 30\n", "$.gateway.idle_timeout", "duration"),
    ('[gateway]\nmax_message_size = "lots"\n', "$.gateway.max_message_size", "size"),
    ('[gateway]\nstate = "redis://x"\n', "$.gateway.state", "sqlite"),
    ('[gateway]\nadmin = "localhost"\n', "$.gateway.admin", "HOST:PORT"),
    ('[gateway]\nrecording_recipient = "abc"\n', "$.gateway.recording_recipient", "X25519"),
    ("[gateway]\nmax_connections_per_identity = 0\n", "$.gateway.max_connections_per_identity", ""),
    ('[listeners]\nmysql = "0.0.0.0:6433"\n', "$.listeners.mysql", "loopback"),
    ('[listeners]\nmysql = "127.0.0.1:99999"\n', "$.listeners.mysql", "port"),
    ('[listeners]\ntls_cert = "c.pem"\n', "$.listeners.tls_key", "together"),
    (
        '[listeners]\nproxy_protocol_from = ["10.0.0.0/8", "haproxy"]\n',
        "$.listeners.proxy_protocol_from[1]",
        "network",
    ),
    ('[identity]\nleeway = "1h"\n', "$.identity.leeway", "5m"),
    ('[identity.oidc]\naudience = "limen"\n', "$.identity.oidc.issuer", "required"),
    ('[identity.oidc]\nissuer = "http://idp.example.com"\n', "$.identity.oidc.issuer", "https"),
    (
        '[identity.oidc]\nissuer = "https://i.example"\nalgorithms = ["HS256"]\n',
        "$.identity.oidc.algorithms[0]",
        "EdDSA",
    ),
    (
        '[identity.oidc]\nissuer = "https://i.example"\nalgorithms = ["none"]\n',
        "$.identity.oidc.algorithms[0]",
        "RS256",
    ),
    ('[[identity.keys]]\nname = "k"\nsha256 = "abc"\n', "$.identity.keys[0].sha256", "hex"),
    ('[identity.dev]\nlisten = "10.1.2.3:8898"\n', "$.identity.dev.listen", "loopback"),
    (
        '[[resources]]\nname = "db"\nprotocol = "postgres"\nupstream = "h:1"\n',
        "$.resources[1].name",
        "duplicate",
    ),
    (
        '[[resources]]\nname = "x"\nprotocol = "oracle"\nupstream = "h:1"\n',
        "$.resources[1].protocol",
        "postgres",
    ),
    (
        '[[resources]]\nname = "x"\nprotocol = "mysql"\nupstream = "h:1"\npassword = "pw"\n',
        "$.resources[1].password",
        "dev = true",
    ),
    (
        '[[resources]]\nname = "x"\nprotocol = "mysql"\nupstream = "h:1"\n'
        'password_env = "A"\npassword_file = "f"\n',
        "$.resources[1].password_file",
        "one of",
    ),
    (
        '[[resources]]\nname = "x"\nprotocol = "mysql"\nupstream = "no-port"\n',
        "$.resources[1].upstream",
        "HOST:PORT",
    ),
    (
        '[[resources]]\nname = "x"\nprotocol = "http"\nupstream = "h:1"\n',
        "$.resources[1].upstream",
        "URL",
    ),
    (
        '[[resources]]\nname = "x"\nprotocol = "mysql"\nupstream = "h:1"\ntls = { mode = "on" }\n',
        "$.resources[1].tls.mode",
        "verify-full",
    ),
    ('[[rules]]\nname = "r0"\ngroups = ["a"]\nresources = ["db"]\n', "$.rules[1].name", "dup"),
    (
        '[[rules]]\nname = "r1"\ngroups = ["a"]\nresources = ["dbb"]\n',
        "$.rules[1].resources[0]",
        "db",
    ),
    ('[[rules]]\nname = "r1"\nresources = ["db"]\n', "$.rules[1]", "nobody"),
    ('[[rules]]\nname = "r1"\ngroups = ["a"]\n', "$.rules[1].resources", "required"),
    (
        '[[rules]]\nname = "r1"\ngroups = ["a"]\nresources = ["db"]\nhold = ["writes"]\n',
        "$.rules[1].hold[0]",
        "unbounded-write",
    ),
    (
        '[[rules]]\nname = "r1"\ngroups = ["a"]\nresources = ["db"]\nhold = ["write"]\n',
        "$.rules[1].approvers",
        "approvers",
    ),
    (
        '[[rules]]\nname = "r1"\ngroups = ["a"]\nresources = ["db"]\nmask = ["emial"]\n',
        "$.rules[1].mask[0]",
        "email",
    ),
    (
        '[[rules]]\nname = "r1"\ngroups = ["a"]\nresources = ["db"]\nmask = ["column:email"]\n',
        "$.rules[1].mask[0]",
        "TABLE.COLUMN",
    ),
    (
        '[[rules]]\nname = "r1"\ngroups = ["a"]\nresources = ["db"]\napprovals_required = 0\n',
        "$.rules[1].approvals_required",
        "at least 1",
    ),
    (
        '[[rules]]\nname = "r1"\ngroups = ["a"]\nresources = ["db"]\nhold_timeout = "soon"\n',
        "$.rules[1].hold_timeout",
        "duration",
    ),
    (
        '[[rules]]\nname = "r1"\ngroups = ["a"]\nresources = ["db"]\nwebhook = "http://h.example"\n',
        "$.rules[1].webhook",
        "https",
    ),
    (
        '[[rules]]\nname = "r1"\ngroups = ["a"]\nresources = ["db"]\nhold_timout = "5m"\n',
        "$.rules[1].hold_timout",
        "hold_timeout",
    ),
    ("[[rules]]\nname = 5\n", "$.rules[1].name", "str"),
    ("rules = 3\n", "$.rules", "array"),
    ("base_dir = '/'\n", "$.base_dir", "unknown"),
    ('[[mask_rules]]\nname = "ticket"\nregex = "T-(["\n', "$.mask_rules[0]", "ticket"),
    ('[[mask_rules]]\nname = "empty"\nregex = "a*"\n', "$.mask_rules[0]", "empty string"),
    ('[[mask_rules]]\nname = "both"\nregex = "x"\nwords = ["y"]\n', "$.mask_rules[0]", "one of"),
    ('[[mask_rules]]\nname = "email"\nwords = ["y"]\n', "$.mask_rules[0]", "twice"),
    ('[[mask_rules]]\nname = "x"\nregexp = "y"\n', "$.mask_rules[0].regexp", "regex"),
]


def test_rules_may_mask_with_user_mask_rules() -> None:
    extra = (
        '[[mask_rules]]\nname = "ticket"\nregex = "T-[0-9]+"\n'
        '[[rules]]\nname = "r1"\ngroups = ["ci"]\nresources = ["db"]\n'
        'allow = ["read"]\nmask = ["builtin", "ticket", "column:users.email"]\n'
    )
    config = load_config_data(merge(tomllib.loads(BASE), tomllib.loads(extra)))
    assert config.mask_rules[0].regex == "T-[0-9]+"
    assert config.rules[1].mask == ["builtin", "ticket", "column:users.email"]


def test_mask_predicates_is_allow_or_deny() -> None:
    rule = '[[rules]]\nname = "r1"\ngroups = ["ci"]\nresources = ["db"]\nallow = ["read"]\n'
    config = load_config_data(
        merge(tomllib.loads(BASE), tomllib.loads(rule + 'mask_predicates = "deny"\n'))
    )
    assert config.rules[1].mask_predicates == "deny"
    assert config.rules[0].mask_predicates == "allow"
    with pytest.raises(ConfigError, match="mask_predicates"):
        load_config_data(
            merge(tomllib.loads(BASE), tomllib.loads(rule + 'mask_predicates = "maybe"\n'))
        )


def merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    """BASE with the extra tables merged in and the extra array items appended."""
    out = dict(base)
    for key, value in extra.items():
        old = out.get(key)
        if isinstance(old, dict) and isinstance(value, dict):
            out[key] = merge(old, value)
        elif isinstance(old, list) and isinstance(value, list):
            out[key] = old + value
        else:
            out[key] = value
    return out


@pytest.mark.parametrize(("extra", "path", "word"), ERRORS)
def test_every_error_names_its_path(extra: str, path: str, word: str) -> None:
    data = merge(tomllib.loads(BASE), tomllib.loads(extra))
    with pytest.raises(ConfigError) as info:
        load_config_data(data)
    issues = info.value.issues
    assert issues, "a ConfigError lists what is wrong"
    assert path in [i.path for i in issues], f"{path} not in {[str(i) for i in issues]}"
    issue = next(i for i in issues if i.path == path)
    assert word.lower() in issue.message.lower()
    assert issue.path in str(info.value)


def test_all_semantic_errors_reported_at_once() -> None:
    text = BASE.replace('resources = ["db"]', 'resources = ["nope"]') + (
        '[[rules]]\nname = "r0"\ngroups = ["x"]\nresources = ["db"]\n'
    )
    with pytest.raises(ConfigError) as info:
        load_config_text(text)
    paths = {i.path for i in info.value.issues}
    assert {"$.rules[0].resources[0]", "$.rules[1].name"} <= paths


def test_syntax_errors_name_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[gateway\n")
    with pytest.raises(ConfigError) as info:
        load_config(bad)
    assert str(bad) in str(info.value)
    assert "TOML" in str(info.value)
    bad_yaml = tmp_path / "bad.yaml"
    bad_yaml.write_text("gateway: [\n")
    with pytest.raises(ConfigError, match="YAML"):
        load_config(bad_yaml)
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "missing.toml")
    top = tmp_path / "list.yaml"
    top.write_text("- 1\n")
    with pytest.raises(ConfigError, match="top level"):
        load_config(top)


def test_warnings_do_not_stop_loading() -> None:
    text = """
    [[identity.keys]]
    name = "k"
    sha256 = "{}"
    groups = ["ci"]
    [[resources]]
    name = "db"
    protocol = "mysql"
    upstream = "127.0.0.1:3306"
    [[resources]]
    name = "unused"
    protocol = "postgres"
    upstream = "127.0.0.1:5432"
    [[rules]]
    name = "r"
    groups = ["ci", "ghosts"]
    resources = ["db"]
    allow = ["read", "write"]
    hold = ["write"]
    approvers = ["security"]
    """.format(hashlib.sha256(b"k").hexdigest())
    config = load_config_text(text)
    warnings = {i.path: i.message for i in check(config) if i.severity == "warning"}
    assert "ghosts" in warnings["$.rules[0].groups[1]"]
    assert "security" in warnings["$.rules[0].approvers[0]"]
    assert "$.rules[0].groups[0]" not in warnings
    assert "hold takes precedence" in warnings["$.rules[0].allow"]
    assert "nobody" in warnings["$.resources[1].name"]
    assert "listeners.mysql" in warnings["$.resources[0].protocol"]


def test_groups_are_not_questioned_when_a_provider_grants_them() -> None:
    config = load_config_text(BASE.replace('groups = ["ci"]', 'groups = ["anything"]'))
    assert not [i for i in check(config) if "grants" in i.message]


def test_tls_allows_listeners_off_loopback() -> None:
    text = BASE.replace(
        'postgres = "127.0.0.1:6432"',
        'postgres = "0.0.0.0:6432"\ntls_cert = "c.pem"\ntls_key = "k.pem"',
    )
    assert str(load_config_text(text).listeners.postgres) == "0.0.0.0:6432"
    strict = BASE.replace("[listeners]", "[listeners]\nallow_plaintext_loopback = false")
    with pytest.raises(ConfigError, match="allow_plaintext_loopback"):
        load_config_text(strict)


# --- secrets -------------------------------------------------------------------


def test_secrets_resolve_at_use_time_and_never_show(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "pw").write_text("file-secret-value\n")
    text = """
    [[resources]]
    name = "a"
    protocol = "postgres"
    upstream = "127.0.0.1:5432"
    password_env = "LIMEN_TEST_PW"
    [[resources]]
    name = "b"
    protocol = "postgres"
    upstream = "127.0.0.1:5432"
    password_file = "pw"
    [[resources]]
    name = "c"
    protocol = "postgres"
    upstream = "127.0.0.1:5432"
    password = "inline-dev-value"
    dev = true
    """
    config = load_config_text(text, base_dir=tmp_path)
    a, b, c = config.resources
    monkeypatch.delenv("LIMEN_TEST_PW", raising=False)
    with pytest.raises(SecretError, match="LIMEN_TEST_PW is not set"):
        config.resolve_password(a)
    monkeypatch.setenv("LIMEN_TEST_PW", "env-secret-value")
    secrets = [config.resolve_password(r) for r in (a, b, c)]
    assert [s.reveal() for s in secrets if s] == [
        "env-secret-value",
        "file-secret-value",
        "inline-dev-value",
    ]
    shown = repr(secrets) + str(secrets) + repr(config) + str(msgspec.structs.asdict(c))
    for value in ("env-secret-value", "file-secret-value", "inline-dev-value"):
        assert value not in shown
    (tmp_path / "pw").unlink()
    with pytest.raises(SecretError) as info:
        config.resolve_password(b)
    assert "cannot read" in str(info.value)


def test_secret_equality_and_no_pickling() -> None:
    import pickle

    assert Secret("x", "a") == Secret("x", "b")
    assert Secret("x", "a") != Secret("y", "a")
    with pytest.raises(TypeError):
        pickle.dumps(Secret("x", "a"))


# --- value types -----------------------------------------------------------------

UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}


@given(st.lists(st.tuples(st.integers(0, 10_000), st.sampled_from(list(UNITS))), min_size=1))
def test_duration_sums_its_parts(parts: list[tuple[int, str]]) -> None:
    text = "".join(f"{n}{u}" for n, u in parts)
    expected = sum(n * UNITS[u] for n, u in parts)
    assert Duration.parse(text).seconds == pytest.approx(expected)
    assert Duration.parse(str(Duration(expected))).seconds == pytest.approx(expected)


@given(st.text(max_size=12))
def test_duration_rejects_or_parses_anything(text: str) -> None:
    error: ValueError | None = None
    try:
        parsed = Duration.parse(text)
    except ValueError as exc:
        error = exc
    if error is not None:
        assert "duration" in str(error)
    else:
        assert parsed.seconds >= 0


@pytest.mark.parametrize("bad", ["", "5", "m5", "-5s", "5 m s", "1.5.2s", "5y"])
def test_bad_durations(bad: str) -> None:
    with pytest.raises(ValueError, match="duration"):
        Duration.parse(bad)


@pytest.mark.parametrize(
    ("text", "host", "port", "loopback"),
    [
        ("127.0.0.1:6432", "127.0.0.1", 6432, True),
        ("[::1]:6432", "::1", 6432, True),
        ("localhost:1", "localhost", 1, True),
        ("db.internal:5432", "db.internal", 5432, False),
        ("0.0.0.0:0", "0.0.0.0", 0, False),
    ],
)
def test_addresses(text: str, host: str, port: int, loopback: bool) -> None:
    addr = Address.parse(text)
    assert (addr.host, addr.port, addr.is_loopback) == (host, port, loopback)
    assert Address.parse(str(addr)) == addr


@pytest.mark.parametrize("bad", ["6432", ":6432", "::1:6432", "[::1]6432", "h:port", "h:70000"])
def test_bad_addresses(bad: str) -> None:
    with pytest.raises(ValueError, match="address"):
        Address.parse(bad)


def test_sizes() -> None:
    assert ByteSize.parse("16MiB") == 16 * 1024 * 1024
    assert ByteSize.parse("1kb") == 1000
    assert ByteSize.parse(42) == 42
    for bad in ("16 mebibytes", True, -1, 1.5):
        with pytest.raises((ValueError, TypeError)):
            ByteSize.parse(bad)


def test_statement_classes_and_detectors_are_known() -> None:
    assert set(STATEMENT_CLASSES) == {"read", "write", "ddl", "admin", "unbounded-write", "unknown"}
    assert "email" in known_detectors()


def test_config_is_frozen() -> None:
    config = load_config_text(BASE)
    with pytest.raises(AttributeError):
        config.rules = []  # type: ignore[misc]
    assert isinstance(config, Config)


def test_value_types_are_immutable() -> None:
    config = load_config_text("")
    with pytest.raises(AttributeError):
        config.gateway.idle_timeout.seconds = 1  # type: ignore[misc]
    with pytest.raises(AttributeError):
        config.gateway.admin.port = 1  # type: ignore[misc]
    assert load_config_text("").gateway.idle_timeout == Duration(900)


@pytest.mark.parametrize(
    ("kind", "text"),
    [
        ("duration", "\uff15m"),  # fullwidth digit five
        ("duration", "\u0661h"),  # Arabic-Indic digit one
        ("size", "\uff11\uff16MiB"),
        ("address", "127.0.0.1:\uff15\uff14\uff13\uff12"),
    ],
)
def test_numbers_are_ascii_digits_only(kind: str, text: str) -> None:
    # int() and \d take any Unicode digit: a config that looks like one
    # value to a reviewer must not parse as another.
    parse = {"duration": Duration.parse, "size": ByteSize.parse, "address": Address.parse}[kind]
    with pytest.raises(ValueError):
        parse(text)


@given(st.binary(min_size=32, max_size=32), st.text(min_size=1, max_size=8))
def test_a_key_is_the_whole_text_or_nothing(key: bytes, junk: str) -> None:
    for text in (base64.b64encode(key).decode(), base64.urlsafe_b64encode(key).decode(), key.hex()):
        assert decode_key32(text) == key
        assert decode_key32(text.rstrip("=")) == key
        # junk around a valid key is refused, not skipped
        assert decode_key32(junk.strip() + "!" + text) is None
        assert decode_key32(text + "!" + junk) is None
