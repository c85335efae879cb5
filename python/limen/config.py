"""The limen configuration: the whole schema of docs/interface.md as typed structs.

A configuration file (TOML, or YAML for those who prefer it) is decoded once,
at the boundary, into frozen :class:`msgspec.Struct` values with unknown fields
forbidden. Every problem is reported as a :class:`ConfigError` whose issues
name the JSON path of the offending value (``$.rules[2].hold``) and say what
is wrong; nothing downstream needs to re-validate.

Two stages:

1. *Shape*: msgspec decodes the file into :class:`Config`. Durations
   (``"15m"``), sizes (``"16MiB"``) and addresses (``"127.0.0.1:6432"``) are
   small value types parsed here, so a bad one fails with its path. msgspec
   stops at the first shape error.
2. *Meaning*: :func:`check` cross-checks the decoded config and collects every
   problem at once. Errors make the config unusable; warnings are printed by
   ``limen config check`` but do not stop the gateway.

   Errors: duplicate or empty names; rules naming unknown resources; rules
   that match nobody (no groups and no subjects); held classes with no
   approvers; unknown mask detectors; a plain ``password`` on a resource that
   is not ``dev = true``; two password sources on one resource; unparsable
   upstreams, webhooks or state URLs; plain-HTTP issuers or webhooks off
   loopback; listeners off loopback without TLS, or sharing an address; a
   leeway over 5m; a static key or a dev IdP client secret that is not a
   SHA-256 hex digest; duplicate dev IdP client ids; a client token lifetime
   over the maximum.

   Warnings (the config is usable but probably not what was meant): a
   resource no rule names; a resource whose protocol has no listener; a class
   in two of allow/hold/deny of one rule (deny beats hold beats allow);
   groups or approvers that no identity source can grant — only decidable
   when neither an OIDC provider nor the dev IdP is enabled, since those grant
   whatever groups their tokens carry; no identity source at all.

Secrets never live in the config: ``password_env`` and ``password_file`` name
where to find them, and :meth:`Config.resolve_password` reads them at use
time into a :class:`Secret`, whose ``repr`` never shows the value. A plain
``password`` (dev resources only) is decoded straight into a :class:`Secret`.

Relative paths in a config file are relative to the folder of that file.
"""

from __future__ import annotations

import base64
import binascii
import difflib
import hmac
import ipaddress
import os
import re
import tomllib
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, Final, Literal, get_args
from urllib.parse import urlsplit

import msgspec
import yaml

__all__ = [
    "ALLOWED_ALGORITHMS",
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
]


# --- errors -------------------------------------------------------------------


class Issue(msgspec.Struct, frozen=True):
    """One problem found in a config: where (a JSON path) and what."""

    path: str
    message: str
    severity: Literal["error", "warning"] = "error"

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


class ConfigError(Exception):
    """The config cannot be used. ``issues`` lists every problem found."""

    def __init__(self, issues: Iterable[Issue], source: str = "config") -> None:
        self.issues: tuple[Issue, ...] = tuple(issues)
        self.source = source
        lines = [f"{source}: invalid configuration"]
        lines.extend(f"  {issue}" for issue in self.issues)
        super().__init__("\n".join(lines))


class SecretError(Exception):
    """A secret named by the config could not be read (the message names
    where it was looked for, never a value)."""


# --- small value types ----------------------------------------------------------

_DURATION_RE: Final = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")
_DURATION_UNITS: Final = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


class Duration:
    """A length of time written like ``"15m"``, ``"30s"``, ``"1h30m"``, ``"250ms"``."""

    __slots__ = ("seconds", "text")
    seconds: float
    text: str

    def __init__(self, seconds: float, text: str | None = None) -> None:
        if seconds < 0:
            raise ValueError("a duration cannot be negative")
        object.__setattr__(self, "seconds", float(seconds))
        object.__setattr__(self, "text", text if text is not None else _format_duration(seconds))

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("a Duration is immutable")

    @classmethod
    def parse(cls, text: str) -> Duration:
        """Parse ``"15m"`` style text; raise ValueError saying what is wrong."""
        stripped = text.strip()
        pos = 0
        total = 0.0
        for match in _DURATION_RE.finditer(stripped):
            if match.start() != pos:
                break
            total += float(match.group(1)) * _DURATION_UNITS[match.group(2)]
            pos = match.end()
        if not stripped or pos != len(stripped):
            raise ValueError(
                f"invalid duration {text!r}: write a number and a unit "
                "(ms, s, m, h, d), e.g. '30s', '15m', '1h30m'"
            )
        return cls(total, stripped)

    def __repr__(self) -> str:
        return f"Duration({self.text!r})"

    def __str__(self) -> str:
        return self.text

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Duration) and other.seconds == self.seconds

    def __hash__(self) -> int:
        return hash(self.seconds)


def _format_duration(seconds: float) -> str:
    if seconds == int(seconds):
        whole = int(seconds)
        for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
            if whole and whole % size == 0:
                return f"{whole // size}{unit}"
        return f"{whole}s"
    return f"{round(seconds * 1000)}ms"


_SIZE_RE: Final = re.compile(r"(\d+)\s*(B|KB|KiB|MB|MiB|GB|GiB)?", re.IGNORECASE)
_SIZE_UNITS: Final = {
    "b": 1,
    "kb": 1000,
    "kib": 1024,
    "mb": 1000**2,
    "mib": 1024**2,
    "gb": 1000**3,
    "gib": 1024**3,
}


class ByteSize(int):
    """A number of bytes: an integer, or text like ``"16MiB"`` / ``"64KiB"``."""

    @classmethod
    def parse(cls, value: object) -> ByteSize:
        if isinstance(value, bool):
            raise TypeError("expected a size (e.g. 16777216 or '16MiB'), got a boolean")
        if isinstance(value, int):
            if value < 0:
                raise ValueError("a size cannot be negative")
            return cls(value)
        if isinstance(value, str):
            match = _SIZE_RE.fullmatch(value.strip())
            if match is None:
                raise ValueError(
                    f"invalid size {value!r}: write bytes or a unit "
                    "(B, KiB, MiB, GiB, KB, MB, GB), e.g. '16MiB'"
                )
            unit = (match.group(2) or "b").lower()
            return cls(int(match.group(1)) * _SIZE_UNITS[unit])
        raise TypeError(f"expected a size (e.g. '16MiB'), got {type(value).__name__}")


def is_loopback_host(host: str) -> bool:
    """True for ``localhost``, 127.0.0.0/8 and ::1 (the only hosts plain HTTP
    and plaintext listeners are trusted on)."""
    name = host.strip("[]").lower()
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


class Address:
    """A ``host:port`` pair: ``127.0.0.1:6432``, ``[::1]:6432``, ``db.internal:5432``."""

    __slots__ = ("host", "port")
    host: str
    port: int

    def __init__(self, host: str, port: int) -> None:
        object.__setattr__(self, "host", host)
        object.__setattr__(self, "port", port)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("an Address is immutable")

    @classmethod
    def parse(cls, text: str) -> Address:
        raw = text.strip()
        if raw.startswith("["):
            host, sep, rest = raw[1:].partition("]")
            if not sep or not rest.startswith(":"):
                raise ValueError(f"invalid address {text!r}: write '[::1]:PORT' for IPv6")
            port_text = rest[1:]
            try:
                ipaddress.IPv6Address(host)
            except ValueError:
                raise ValueError(f"invalid address {text!r}: {host!r} is not IPv6") from None
        else:
            host, sep, port_text = raw.rpartition(":")
            if not sep or not host:
                raise ValueError(f"invalid address {text!r}: write HOST:PORT, e.g. 127.0.0.1:6432")
            if ":" in host:
                raise ValueError(f"invalid address {text!r}: put IPv6 hosts in brackets")
            if not re.fullmatch(r"[A-Za-z0-9.\-_]+", host):
                raise ValueError(f"invalid address {text!r}: bad host name {host!r}")
        if not port_text.isdigit() or not 0 <= int(port_text) <= 65535:
            raise ValueError(f"invalid address {text!r}: the port must be 0-65535")
        return cls(host, int(port_text))

    @property
    def is_loopback(self) -> bool:
        return is_loopback_host(self.host)

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"

    def __repr__(self) -> str:
        return f"Address({str(self)!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Address) and (other.host, other.port) == (self.host, self.port)

    def __hash__(self) -> int:
        return hash((self.host, self.port))


class Secret:
    """A secret value that does not show itself: ``repr``/``str`` name only
    where it came from. Call :meth:`reveal` at the point of use."""

    __slots__ = ("_source", "_value")

    def __init__(self, value: str, source: str) -> None:
        self._value = value
        self._source = source

    @property
    def source(self) -> str:
        return self._source

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return f"Secret(<{self._source}>)"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Secret):
            return NotImplemented
        return hmac.compare_digest(self._value.encode(), other._value.encode())

    def __hash__(self) -> int:
        return hash(Secret)  # equal secrets must hash alike; the value must not leak

    def __reduce__(self) -> Any:
        raise TypeError("a Secret cannot be pickled")


# --- the schema -------------------------------------------------------------------

StatementClass = Literal["read", "write", "ddl", "admin", "unbounded-write", "unknown"]
STATEMENT_CLASSES: Final[tuple[str, ...]] = get_args(StatementClass)
Protocol = Literal["postgres", "mysql", "ssh", "http", "kubernetes"]
PROTOCOLS: Final[tuple[str, ...]] = get_args(Protocol)
Algorithm = Literal["RS256", "RS384", "RS512", "PS256", "ES256", "ES384", "EdDSA"]
ALLOWED_ALGORITHMS: Final[tuple[Algorithm, ...]] = get_args(Algorithm)


def known_detectors() -> frozenset[str]:
    """Detector names a rule's ``mask`` list may use besides ``builtin`` and
    ``column:TABLE.COLUMN``: the native masker's built-in detectors."""
    from limen.mask import BUILTIN_DETECTORS

    return frozenset(BUILTIN_DETECTORS)


_DEFAULT_STATE: Final = "sqlite://.limen/state.db"


class _Strict(msgspec.Struct, forbid_unknown_fields=True, kw_only=True, frozen=True):
    """Base for every config table: unknown fields are errors."""


class GatewayConfig(_Strict, frozen=True):
    """``[gateway]``: state, recordings, the admin API and every global limit."""

    state: str = _DEFAULT_STATE
    """``sqlite://PATH`` (``sqlite:///abs/path.db``) or ``postgresql://…``."""
    state_dir: str | None = None
    """Folder for local state (dev IdP keys, the recording key). Default: the
    SQLite database's folder, or ``.limen`` beside the config file."""
    recordings: str = ".limen/recordings"
    admin: Address = msgspec.field(default_factory=lambda: Address("127.0.0.1", 8899))
    recording_key: str | None = None
    """Ed25519 key that signs each closed session log. Default
    ``STATE_DIR/recording.key``, created on first use."""
    recording_recipient: str | None = None
    """An auditor's X25519 public key (base64 or hex, 32 bytes): when set,
    recordings are encrypted to it."""
    max_message_size: ByteSize = ByteSize(16 * 1024 * 1024)
    max_connections: int = 1000
    max_connections_per_identity: int = 20
    handshake_timeout: Duration = Duration(10)
    connect_timeout: Duration = Duration(10)
    idle_timeout: Duration = Duration(15 * 60)
    hold_timeout: Duration = Duration(15 * 60)
    """Default for rules that do not set ``hold_timeout``."""
    drain_timeout: Duration = Duration(30)
    relay: Literal["native", "trio"] = "native"
    """Who moves a PostgreSQL session's bytes after the handshake: ``native``
    (a native pump thread per session; sessions with client or upstream TLS
    stay on the Trio relay) or ``trio`` (the Trio relay for every session).
    Decisions, masking and recording are the same either way."""


class ListenersConfig(_Strict, frozen=True):
    """``[listeners]``: one address per protocol, shared by its resources."""

    postgres: Address | None = None
    mysql: Address | None = None
    ssh: Address | None = None
    http: Address | None = None
    kubernetes: Address | None = None
    tls_cert: str | None = None
    tls_key: str | None = None
    allow_plaintext_loopback: bool = True
    """Without TLS, listeners are only allowed on loopback, and only while this is true."""

    def items(self) -> list[tuple[str, Address]]:
        return [(p, a) for p in PROTOCOLS if (a := getattr(self, p)) is not None]


class DevClient(_Strict, frozen=True):
    """``[[identity.dev.clients]]``: a bot client of the dev IdP's OAuth2 token
    endpoint (client-credentials grant), its secret kept only as SHA-256 (the
    output of ``limen identity add-client`` or ``limen keys hash``)."""

    client_id: str
    secret_sha256: str
    groups: list[str] = msgspec.field(default_factory=list)
    subject: str | None = None
    """The tokens' subject; default the client id."""
    ttl: Duration | None = None
    """Token lifetime; default ``[identity.dev] default_ttl``."""

    def token_subject(self) -> str:
        return self.subject if self.subject is not None else self.client_id


class DevIdPConfig(_Strict, frozen=True):
    """``[identity.dev]``: the built-in OIDC issuer for local use and tests."""

    enabled: bool = False
    listen: Address = msgspec.field(default_factory=lambda: Address("127.0.0.1", 8898))
    issuer: str | None = None
    """Default ``http://LISTEN``."""
    audience: str = "limen"
    algorithm: Literal["EdDSA", "ES256"] = "EdDSA"
    default_ttl: Duration = Duration(15 * 60)
    key_file: str | None = None
    """Default ``STATE_DIR/dev-idp-keys.json`` (mode 0600)."""
    clients: list[DevClient] = msgspec.field(default_factory=list)
    """Bot clients of the token endpoint (OAuth2 client-credentials grant)."""

    def issuer_url(self) -> str:
        return self.issuer if self.issuer is not None else f"http://{self.listen}"


class OIDCConfig(_Strict, frozen=True):
    """``[identity.oidc]``: any OpenID Connect provider."""

    issuer: str
    audience: str | list[str] = "limen"
    groups_claim: str = "groups"
    """Claim holding the groups; dotted paths reach nested claims
    (``realm_access.roles``); a claim whose name itself has dots wins."""
    subject_claim: str = "sub"
    algorithms: list[Algorithm] = msgspec.field(default_factory=lambda: list(ALLOWED_ALGORITHMS))
    discovery_url: str | None = None
    """Default ``ISSUER/.well-known/openid-configuration``."""
    jwks_uri: str | None = None
    """Skip discovery and fetch keys from here."""
    ca_file: str | None = None
    http_timeout: Duration = Duration(5)
    jwks_refresh: Duration = Duration(5 * 60)
    """Keys older than this are re-fetched on next use."""
    jwks_max_age: Duration = Duration(60 * 60)
    """Cached keys keep working while the provider is unreachable, up to this age."""
    jwks_min_refresh_interval: Duration = Duration(30)
    """An unknown ``kid`` triggers a refresh at most this often."""

    def audiences(self) -> list[str]:
        return [self.audience] if isinstance(self.audience, str) else list(self.audience)


class StaticKey(_Strict, frozen=True):
    """``[[identity.keys]]``: a legacy static credential, kept only as SHA-256."""

    name: str
    sha256: str
    groups: list[str] = msgspec.field(default_factory=list)


class IdentityConfig(_Strict, frozen=True):
    """``[identity]``: who may connect, and the rules every token obeys."""

    dev: DevIdPConfig = msgspec.field(default_factory=DevIdPConfig)
    oidc: OIDCConfig | None = None
    keys: list[StaticKey] = msgspec.field(default_factory=list)
    leeway: Duration = Duration(30)
    """Clock skew tolerated on ``exp``, ``nbf`` and ``iat`` (at most 5m)."""
    max_token_lifetime: Duration = Duration(60 * 60)
    """Tokens valid for longer than this (``exp - iat``) are refused."""
    token_cache_size: int = 10_000


class UpstreamTLS(_Strict, frozen=True):
    """``tls`` of a resource: how limen talks TLS to the upstream."""

    mode: Literal["disable", "prefer", "require", "verify-ca", "verify-full"] = "verify-full"
    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    server_name: str | None = None


class Resource(_Strict, frozen=True):
    """``[[resources]]``: one upstream a bot may reach, and its credential."""

    name: str
    protocol: Protocol
    upstream: str
    """``HOST:PORT`` (postgres, mysql, ssh) or a URL (http, kubernetes)."""
    database: str | None = None
    user: str | None = None
    password_env: str | None = None
    password_file: str | None = None
    password: Secret | None = None
    """Refused unless ``dev = true``: real credentials come from env or files."""
    dev: bool = False
    tls: UpstreamTLS | None = None
    description: str = ""
    max_connections: int | None = None
    idle_timeout: Duration | None = None

    def upstream_address(self) -> Address:
        return Address.parse(self.upstream)

    def resolve_password(self, base_dir: Path | None = None) -> Secret | None:
        """Read the upstream password now (env var or file); never logs it."""
        if self.password_env is not None:
            value = os.environ.get(self.password_env)
            if value is None:
                raise SecretError(
                    f"resource {self.name!r}: environment variable {self.password_env} is not set"
                )
            return Secret(value, f"env {self.password_env}")
        if self.password_file is not None:
            path = _resolve_path(self.password_file, base_dir)
            try:
                value = path.read_text(encoding="utf-8")
            except OSError as exc:
                raise SecretError(
                    f"resource {self.name!r}: cannot read password_file {path}: "
                    f"{exc.strerror or type(exc).__name__}"
                ) from None
            value = value.removesuffix("\n").removesuffix("\r")
            if not value:
                raise SecretError(f"resource {self.name!r}: password_file {path} is empty")
            return Secret(value, f"file {path}")
        return self.password


class Rule(_Strict, frozen=True):
    """``[[rules]]``: who may do what on which resources."""

    name: str
    resources: list[str]
    groups: list[str] = msgspec.field(default_factory=list)
    subjects: list[str] = msgspec.field(default_factory=list)
    allow: list[StatementClass] = msgspec.field(default_factory=list)
    hold: list[StatementClass] = msgspec.field(default_factory=list)
    deny: list[StatementClass] = msgspec.field(default_factory=list)
    mask: list[str] = msgspec.field(default_factory=list)
    mask_predicates: Literal["allow", "deny"] = "allow"
    """With ``deny``, a statement that filters, joins, orders or groups on a
    column this rule masks is refused (no reading it one comparison at a time)."""
    approvers: list[str] = msgspec.field(default_factory=list)
    approvals_required: int = 1
    hold_timeout: Duration | None = None
    """Default: ``[gateway] hold_timeout``."""
    webhook: str | None = None
    record_raw_input: bool = False
    """Keep the statements of matching sessions raw in the session log
    (accepted only with ``[gateway] recording_recipient``)."""


class MaskRuleConfig(_Strict, frozen=True):
    """``[[mask_rules]]``: a user masking rule, usable by name in a rule's
    ``mask`` list. Give ``regex`` (Rust syntax; a capture group masks only
    that part) or ``words`` (literal words)."""

    name: str
    regex: str | None = None
    words: list[str] | None = None
    case_insensitive: bool = False


class Config(_Strict, frozen=True):
    """A whole limen configuration."""

    gateway: GatewayConfig = msgspec.field(default_factory=GatewayConfig)
    listeners: ListenersConfig = msgspec.field(default_factory=ListenersConfig)
    identity: IdentityConfig = msgspec.field(default_factory=IdentityConfig)
    resources: list[Resource] = msgspec.field(default_factory=list)
    rules: list[Rule] = msgspec.field(default_factory=list)
    mask_rules: list[MaskRuleConfig] = msgspec.field(default_factory=list)
    base_dir: str = "."
    """Folder that relative paths start from (the config file's folder); set
    by the loader, not read from the file."""

    # -- derived locations ------------------------------------------------------

    def path(self, value: str) -> Path:
        """A path from the config, made absolute against :attr:`base_dir`."""
        return _resolve_path(value, Path(self.base_dir))

    def state_dir(self) -> Path:
        """Folder for local state: ``[gateway] state_dir``, else the SQLite
        database's folder, else ``.limen``."""
        if self.gateway.state_dir is not None:
            return self.path(self.gateway.state_dir)
        db = sqlite_path(self.gateway.state)
        if db is not None:
            return self.path(db).parent
        return self.path(".limen")

    def recording_key_path(self) -> Path:
        if self.gateway.recording_key is not None:
            return self.path(self.gateway.recording_key)
        return self.state_dir() / "recording.key"

    def recording_recipient_key(self) -> bytes | None:
        """The auditor's X25519 public key recordings are encrypted to, if any
        (validated at load: 32 bytes as base64 or hex)."""
        raw = self.gateway.recording_recipient
        return None if raw is None else _decode_key32(raw)

    def dev_key_path(self) -> Path:
        if self.identity.dev.key_file is not None:
            return self.path(self.identity.dev.key_file)
        return self.state_dir() / "dev-idp-keys.json"

    def resource(self, name: str) -> Resource | None:
        return next((r for r in self.resources if r.name == name), None)

    def resolve_password(self, resource: Resource) -> Secret | None:
        return resource.resolve_password(Path(self.base_dir))

    def summary(self) -> str:
        """One line describing the config (for ``limen config check``)."""
        ident: list[str] = []
        if self.identity.dev.enabled:
            ident.append(f"dev IdP {self.identity.dev.issuer_url()}")
        if self.identity.oidc is not None:
            ident.append(f"OIDC {self.identity.oidc.issuer}")
        if self.identity.keys:
            ident.append(_plural(len(self.identity.keys), "static key"))
        listeners = ", ".join(f"{p} {a}" for p, a in self.listeners.items()) or "none"
        return (
            f"{_plural(len(self.resources), 'resource')}, {_plural(len(self.rules), 'rule')}; "
            f"identity: {', '.join(ident) or 'none'}; listeners: {listeners}"
        )


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _resolve_path(value: str, base_dir: Path | None) -> Path:
    path = Path(value).expanduser()
    if not path.is_absolute() and base_dir is not None:
        path = base_dir / path
    return path


def sqlite_path(state: str) -> str | None:
    """The file path of a ``sqlite://`` state URL, or None for other stores.

    ``sqlite:///var/lib/limen/state.db`` is ``/var/lib/limen/state.db``;
    ``sqlite://.limen/state.db`` is relative to the config file's folder.
    """
    if not state.startswith("sqlite://"):
        return None
    return state.removeprefix("sqlite://")


# --- decoding ---------------------------------------------------------------------


def _dec_hook(tp: type, obj: object) -> object:
    if tp is Duration:
        if not isinstance(obj, str):
            raise TypeError(f"expected a duration such as '15m', got {type(obj).__name__}")
        return Duration.parse(obj)
    if tp is ByteSize:
        return ByteSize.parse(obj)
    if tp is Address:
        if not isinstance(obj, str):
            raise TypeError(f"expected an address 'HOST:PORT', got {type(obj).__name__}")
        return Address.parse(obj)
    if tp is Secret:
        if not isinstance(obj, str):
            raise TypeError(f"expected a string, got {type(obj).__name__}")
        return Secret(obj, "inline password")
    raise NotImplementedError(f"no decoder for {tp!r}")


_MSGSPEC_AT: Final = re.compile(r"^(?P<msg>.*) - at `(?P<path>\$[^`]*)`$", re.DOTALL)
_UNKNOWN_FIELD: Final = re.compile(r"^Object contains unknown field `(?P<field>[^`]*)`$")
_MISSING_FIELD: Final = re.compile(r"^Object missing required field `(?P<field>[^`]*)`$")


def _convert_validation_error(exc: msgspec.ValidationError) -> Issue:
    text = str(exc)
    match = _MSGSPEC_AT.match(text)
    msg, path = (match.group("msg"), match.group("path")) if match else (text, "$")
    if unknown := _UNKNOWN_FIELD.match(msg):
        field = unknown.group("field")
        known = _fields_at(path)
        hint = ""
        if known:
            close = difflib.get_close_matches(field, known, n=1)
            hint = (
                f"; did you mean {close[0]!r}?"
                if close
                else f"; known fields: {', '.join(sorted(known))}"
            )
        return Issue(_join(path, field), f"unknown field{hint}")
    if missing := _MISSING_FIELD.match(msg):
        return Issue(_join(path, missing.group("field")), "required field is missing")
    if msg.startswith("Invalid enum value"):
        choices = _choices_at(path)
        if choices:
            msg = f"{msg}; expected one of: {', '.join(choices)}"
    return Issue(path, msg[:1].lower() + msg[1:])


def _join(path: str, field: str) -> str:
    if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", field):
        return f"{path}.{field}"
    return f"{path}[{field!r}]"


_PATH_TOKEN: Final = re.compile(r"\.([A-Za-z_][A-Za-z0-9_\-]*)|\[(\d+)\]|\['([^']*)'\]")


def _type_at(path: str) -> msgspec.inspect.Type | None:
    """The schema type at a JSON path (best effort, for error hints)."""
    current: msgspec.inspect.Type = msgspec.inspect.type_info(Config)
    for match in _PATH_TOKEN.finditer(path.removeprefix("$")):
        current = _unwrap(current)
        name = match.group(1) or match.group(3)
        if name is not None and isinstance(current, msgspec.inspect.StructType):
            field = next((f for f in current.fields if f.encode_name == name), None)
            if field is None:
                return None
            current = field.type
        elif match.group(2) is not None and isinstance(current, msgspec.inspect.ListType):
            current = current.item_type
        else:
            return None
    return _unwrap(current)


def _unwrap(tp: msgspec.inspect.Type) -> msgspec.inspect.Type:
    if isinstance(tp, msgspec.inspect.UnionType):
        inner = [t for t in tp.types if not isinstance(t, msgspec.inspect.NoneType)]
        if len(inner) == 1:
            return inner[0]
    return tp


def _fields_at(path: str) -> list[str]:
    tp = _type_at(path)
    if isinstance(tp, msgspec.inspect.StructType):
        return [f.encode_name for f in tp.fields if f.encode_name != "base_dir"]
    return []


def _choices_at(path: str) -> list[str]:
    tp = _type_at(path)
    if isinstance(tp, msgspec.inspect.LiteralType):
        return [str(v) for v in tp.values]
    return []


def _decode(data: object, source: str, base_dir: Path) -> Config:
    if not isinstance(data, dict):
        raise ConfigError([Issue("$", "the top level must be a table of sections")], source)
    if "base_dir" in data:
        raise ConfigError([Issue("$.base_dir", "unknown field")], source)
    try:
        config = msgspec.convert(
            {**data, "base_dir": str(base_dir)},
            type=Config,
            dec_hook=_dec_hook,
            strict=True,
        )
    except msgspec.ValidationError as exc:
        raise ConfigError([_convert_validation_error(exc)], source) from None
    errors = [issue for issue in check(config) if issue.severity == "error"]
    if errors:
        raise ConfigError(errors, source)
    return config


def load_config_data(
    data: object, *, base_dir: Path | None = None, source: str = "config"
) -> Config:
    """Decode and check already-parsed config data (e.g. an embedded default)."""
    base = (base_dir if base_dir is not None else Path.cwd()).resolve()
    return _decode(data, source, base)


def load_config_text(
    text: str,
    *,
    format: Literal["toml", "yaml"] = "toml",
    base_dir: Path | None = None,
    source: str = "config",
) -> Config:
    """Decode and check config text; raise :class:`ConfigError` on any error."""
    base = (base_dir if base_dir is not None else Path.cwd()).resolve()
    data: object
    if format == "toml":
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError([Issue("$", f"not valid TOML: {exc}")], source) from None
    else:
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise ConfigError([Issue("$", f"not valid YAML: {exc}")], source) from None
        if data is None:
            data = {}
    return _decode(data, source, base)


def load_config(path: str | os.PathLike[str]) -> Config:
    """Load a config file: ``.yaml``/``.yml`` as YAML, anything else as TOML."""
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(
            [Issue("$", f"cannot read {file}: {exc.strerror or type(exc).__name__}")], str(file)
        ) from None
    except UnicodeDecodeError:
        raise ConfigError([Issue("$", f"{file} is not UTF-8 text")], str(file)) from None
    fmt: Literal["toml", "yaml"] = "yaml" if file.suffix.lower() in (".yaml", ".yml") else "toml"
    return load_config_text(text, format=fmt, base_dir=file.resolve().parent, source=str(file))


# --- cross-checks -------------------------------------------------------------------

_HEX64: Final = re.compile(r"[0-9a-f]{64}")
_MASK_COLUMN: Final = re.compile(r"column:[A-Za-z_][A-Za-z0-9_$]*(\.[A-Za-z_][A-Za-z0-9_$]*){1,2}")
_MAX_LEEWAY: Final = 300.0


def check(config: Config) -> list[Issue]:
    """Every problem the config's meaning has (errors and warnings), in order."""
    out: list[Issue] = []

    def err(path: str, message: str) -> None:
        out.append(Issue(path, message, "error"))

    def warn(path: str, message: str) -> None:
        out.append(Issue(path, message, "warning"))

    _check_gateway(config, err)
    _check_listeners(config, err)
    _check_identity(config, err, warn)
    _check_resources(config, err, warn)
    _check_mask_rules(config, err)
    _check_rules(config, err, warn)
    return out


_Report = Callable[[str, str], None]


def _check_names(names: list[str], section: str, err: _Report) -> None:
    """Names in a list of tables must be non-empty and unique."""
    first: dict[str, int] = {}
    for i, name in enumerate(names):
        if not name:
            err(f"{section}[{i}].name", "cannot be empty")
        elif name in first:
            where = f"{section.removeprefix('$.')}[{first[name]}]"
            err(f"{section}[{i}].name", f"duplicate name {name!r} (also {where})")
        first.setdefault(name, i)


def _check_url(path: str, url: str, report: _Report, what: str) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        report(path, f"{what} must be an http(s) URL with a host, got {url!r}")
    elif parts.scheme == "http" and not is_loopback_host(parts.hostname):
        report(path, f"{what} must use https (plain http is only allowed on loopback)")


def _check_gateway(config: Config, err: _Report) -> None:
    gw = config.gateway
    state = gw.state
    if not (
        state.startswith("sqlite://")
        or state.startswith("postgresql://")
        or state.startswith("postgres://")
    ):
        err(
            "$.gateway.state",
            "must be 'sqlite://PATH' or 'postgresql://…' "
            f"(got a value starting {state.split(':', 1)[0]!r})",
        )
    elif sqlite_path(state) == "":
        err("$.gateway.state", "sqlite:// needs a file path, e.g. sqlite:///var/lib/limen/state.db")
    if gw.recording_recipient is not None and _decode_key32(gw.recording_recipient) is None:
        err(
            "$.gateway.recording_recipient",
            "must be an X25519 public key: 32 bytes as base64 or hex",
        )
    for name in ("max_connections", "max_connections_per_identity"):
        if getattr(gw, name) < 1:
            err(f"$.gateway.{name}", "must be at least 1")
    if gw.max_connections_per_identity > gw.max_connections:
        err("$.gateway.max_connections_per_identity", "is larger than max_connections")
    if gw.max_message_size < 1024:
        err("$.gateway.max_message_size", "must be at least 1KiB")
    for name in ("handshake_timeout", "connect_timeout", "idle_timeout", "hold_timeout"):
        if getattr(gw, name).seconds <= 0:
            err(f"$.gateway.{name}", "must be longer than zero")


def _decode_key32(text: str) -> bytes | None:
    raw = text.strip()
    if re.fullmatch(r"[0-9a-fA-F]{64}", raw):
        return bytes.fromhex(raw)
    try:
        data = base64.b64decode(raw + "=" * (-len(raw) % 4), altchars=b"-_", validate=False)
    except (binascii.Error, ValueError):
        return None
    if len(data) != 32:
        try:
            data = base64.b64decode(raw, validate=True)
        except (binascii.Error, ValueError):
            return None
    return data if len(data) == 32 else None


def _check_listeners(config: Config, err: _Report) -> None:
    ls = config.listeners
    if (ls.tls_cert is None) != (ls.tls_key is None):
        missing = "tls_key" if ls.tls_key is None else "tls_cert"
        err(f"$.listeners.{missing}", "tls_cert and tls_key go together")
    tls = ls.tls_cert is not None and ls.tls_key is not None
    seen: dict[Address, str] = {config.gateway.admin: "gateway.admin"}
    for proto, addr in ls.items():
        path = f"$.listeners.{proto}"
        if addr in seen and addr.port != 0:
            err(path, f"the same address as {seen[addr]}")
        seen[addr] = f"listeners.{proto}"
        if tls:
            continue
        if not addr.is_loopback:
            err(
                path,
                f"{addr} is not loopback: tokens would cross the network in clear; "
                "set listeners.tls_cert and listeners.tls_key",
            )
        elif not ls.allow_plaintext_loopback:
            err(path, "no TLS certificate and allow_plaintext_loopback = false")
    admin = config.gateway.admin
    if admin == config.identity.dev.listen and config.identity.dev.enabled and admin.port != 0:
        err("$.identity.dev.listen", "the same address as gateway.admin")
    if not admin.is_loopback and not tls:
        err(
            "$.gateway.admin",
            f"{admin} is not loopback: approvers' tokens would cross the network in clear; "
            "set listeners.tls_cert and listeners.tls_key (the admin API then speaks HTTPS)",
        )


def _check_identity(config: Config, err: _Report, warn: _Report) -> None:
    ident = config.identity
    if ident.leeway.seconds > _MAX_LEEWAY:
        err("$.identity.leeway", "at most 5m: a large leeway defeats token expiry")
    if ident.max_token_lifetime.seconds <= 0:
        err("$.identity.max_token_lifetime", "must be longer than zero")
    if ident.token_cache_size < 0:
        err("$.identity.token_cache_size", "cannot be negative")
    dev = ident.dev
    if dev.enabled:
        if not dev.listen.is_loopback:
            err("$.identity.dev.listen", "the dev IdP only listens on loopback")
        if dev.issuer is not None:
            _check_url("$.identity.dev.issuer", dev.issuer, err, "the dev issuer")
        if dev.default_ttl.seconds > ident.max_token_lifetime.seconds:
            err("$.identity.dev.default_ttl", "longer than identity.max_token_lifetime")
        if dev.default_ttl.seconds <= 0:
            err("$.identity.dev.default_ttl", "must be longer than zero")
    _check_dev_clients(config, err, warn)
    oidc = ident.oidc
    if oidc is not None:
        _check_url("$.identity.oidc.issuer", oidc.issuer, err, "the issuer")
        for field in ("discovery_url", "jwks_uri"):
            value = getattr(oidc, field)
            if value is not None:
                _check_url(f"$.identity.oidc.{field}", value, err, field)
        if not oidc.audiences() or any(not a for a in oidc.audiences()):
            err("$.identity.oidc.audience", "name at least one non-empty audience")
        if not oidc.algorithms:
            err("$.identity.oidc.algorithms", "allow at least one algorithm")
        if not oidc.groups_claim:
            err("$.identity.oidc.groups_claim", "cannot be empty")
        if oidc.jwks_max_age.seconds < oidc.jwks_refresh.seconds:
            err("$.identity.oidc.jwks_max_age", "shorter than jwks_refresh")
        if dev.enabled and oidc.issuer == dev.issuer_url():
            err("$.identity.oidc.issuer", "the same issuer as the dev IdP")
    _check_names([k.name for k in ident.keys], "$.identity.keys", err)
    hashes: dict[str, int] = {}
    for i, key in enumerate(ident.keys):
        path = f"$.identity.keys[{i}]"
        if not _HEX64.fullmatch(key.sha256):
            err(
                f"{path}.sha256",
                "must be 64 lowercase hex digits (the output of `limen keys hash`)",
            )
        elif key.sha256 in hashes:
            err(f"{path}.sha256", f"the same key as keys[{hashes[key.sha256]}]")
        hashes.setdefault(key.sha256, i)
    if not dev.enabled and oidc is None and not ident.keys:
        warn("$.identity", "no identity source (dev IdP, OIDC or static keys): nobody can connect")


def _check_dev_clients(config: Config, err: _Report, warn: _Report) -> None:
    dev = config.identity.dev
    limit = config.identity.max_token_lifetime
    if dev.clients and not dev.enabled:
        warn("$.identity.dev.clients", "the dev IdP is not enabled: these clients get no token")
    first: dict[str, int] = {}
    for i, client in enumerate(dev.clients):
        path = f"$.identity.dev.clients[{i}]"
        if not client.client_id:
            err(f"{path}.client_id", "cannot be empty")
        elif not re.fullmatch(r"[\x21-\x7e]+", client.client_id) or ":" in client.client_id:
            err(f"{path}.client_id", "printable ASCII without spaces or ':'")
        elif client.client_id in first:
            other = first[client.client_id]
            err(
                f"{path}.client_id",
                f"duplicate client id {client.client_id!r} (also clients[{other}])",
            )
        first.setdefault(client.client_id, i)
        if not _HEX64.fullmatch(client.secret_sha256):
            err(
                f"{path}.secret_sha256",
                "must be 64 lowercase hex digits (the output of `limen identity add-client`)",
            )
        if client.subject is not None and not client.subject:
            err(f"{path}.subject", "cannot be empty (leave it out to use the client id)")
        if client.ttl is not None:
            if client.ttl.seconds <= 0:
                err(f"{path}.ttl", "must be longer than zero")
            elif client.ttl.seconds > limit.seconds:
                err(f"{path}.ttl", f"longer than identity.max_token_lifetime ({limit})")


def _check_resources(config: Config, err: _Report, warn: _Report) -> None:
    _check_names([r.name for r in config.resources], "$.resources", err)
    used = {name for rule in config.rules for name in rule.resources}
    for i, res in enumerate(config.resources):
        path = f"$.resources[{i}]"
        if res.protocol in ("http", "kubernetes"):
            parts = urlsplit(res.upstream)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                err(
                    f"{path}.upstream", f"a {res.protocol} upstream is a URL, e.g. https://host:443"
                )
        else:
            try:
                addr = res.upstream_address()
            except ValueError as exc:
                err(f"{path}.upstream", str(exc))
            else:
                if addr.port == 0:
                    err(f"{path}.upstream", "the upstream port cannot be 0")
        sources = [
            f for f in ("password_env", "password_file", "password") if getattr(res, f) is not None
        ]
        if len(sources) > 1:
            err(f"{path}.{sources[1]}", f"choose one of {', '.join(sources)}")
        if res.password is not None and not res.dev:
            err(
                f"{path}.password",
                "a plain password is only allowed on a resource marked dev = true; "
                "use password_env or password_file",
            )
        if res.password_env is not None and not re.fullmatch(
            r"[A-Za-z_][A-Za-z0-9_]*", res.password_env
        ):
            err(f"{path}.password_env", "is not an environment variable name")
        if res.tls is not None and (res.tls.cert_file is None) != (res.tls.key_file is None):
            err(f"{path}.tls", "cert_file and key_file go together")
        if res.max_connections is not None and res.max_connections < 1:
            err(f"{path}.max_connections", "must be at least 1")
        if getattr(config.listeners, res.protocol) is None:
            warn(f"{path}.protocol", f"no listeners.{res.protocol}: bots cannot reach it")
        if res.name and res.name not in used:
            warn(f"{path}.name", f"no rule names resource {res.name!r}: nobody may use it")


def _granted_groups(config: Config) -> set[str] | None:
    """Groups some identity source can grant; None when any group is possible."""
    if config.identity.oidc is not None or config.identity.dev.enabled:
        return None
    return {g for key in config.identity.keys for g in key.groups}


def _check_mask_rules(config: Config, err: _Report) -> None:
    """Each user masking rule must compile on its own (the error names it)."""
    from limen.mask import Masker, MaskRuleError
    from limen.mask import Rule as MaskRule

    _check_names([r.name for r in config.mask_rules], "$.mask_rules", err)
    for i, mr in enumerate(config.mask_rules):
        try:
            Masker(
                detectors=[mr.name],
                rules=[
                    MaskRule(
                        name=mr.name,
                        regex=mr.regex,
                        words=mr.words,
                        case_insensitive=mr.case_insensitive,
                    )
                ],
            )
        except MaskRuleError as exc:
            err(f"$.mask_rules[{i}]", str(exc))


def _check_rules(config: Config, err: _Report, warn: _Report) -> None:
    resources = {r.name for r in config.resources}
    granted = _granted_groups(config)
    detectors = known_detectors() | {r.name for r in config.mask_rules}
    _check_names([r.name for r in config.rules], "$.rules", err)
    for i, rule in enumerate(config.rules):
        path = f"$.rules[{i}]"
        if not rule.resources:
            err(f"{path}.resources", "name at least one resource")
        for j, res in enumerate(rule.resources):
            if res not in resources:
                close = difflib.get_close_matches(res, sorted(resources), n=1)
                hint = f"; did you mean {close[0]!r}?" if close else ""
                err(f"{path}.resources[{j}]", f"unknown resource {res!r}{hint}")
        if not rule.groups and not rule.subjects:
            err(path, "names neither groups nor subjects: it would match nobody")
        for field in ("allow", "hold", "deny"):
            values: list[str] = getattr(rule, field)
            for j, cls in enumerate(values):
                if cls in values[:j]:
                    warn(f"{path}.{field}[{j}]", f"{cls!r} is listed twice")
        for field_a, field_b in (("allow", "deny"), ("allow", "hold"), ("hold", "deny")):
            both = sorted(set(getattr(rule, field_a)) & set(getattr(rule, field_b)))
            if both:
                winner = field_b
                warn(
                    f"{path}.{field_a}",
                    f"{', '.join(both)} also in {field_b}: {winner} takes precedence",
                )
        for j, item in enumerate(rule.mask):
            if item != "builtin" and item not in detectors and not _MASK_COLUMN.fullmatch(item):
                hint = ""
                if item.startswith("column:"):
                    hint = "; write column:TABLE.COLUMN"
                else:
                    close = difflib.get_close_matches(item, sorted(detectors), n=1)
                    hint = f"; did you mean {close[0]!r}?" if close else ""
                err(f"{path}.mask[{j}]", f"unknown mask {item!r}{hint}")
        if rule.hold and not rule.approvers:
            err(f"{path}.approvers", "the rule holds statements but names no approvers")
        if rule.record_raw_input and config.gateway.recording_recipient is None:
            err(
                f"{path}.record_raw_input",
                "raw statements need an encrypted log: set [gateway] recording_recipient",
            )
        if rule.approvals_required < 1:
            err(f"{path}.approvals_required", "must be at least 1")
        if rule.hold_timeout is not None and rule.hold_timeout.seconds <= 0:
            err(f"{path}.hold_timeout", "must be longer than zero")
        if rule.webhook is not None:
            _check_url(f"{path}.webhook", rule.webhook, err, "the webhook")
        if granted is not None:
            for field in ("groups", "approvers"):
                for j, group in enumerate(getattr(rule, field)):
                    if group not in granted:
                        warn(
                            f"{path}.{field}[{j}]",
                            f"no identity source grants group {group!r}",
                        )
