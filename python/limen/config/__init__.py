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
   ``limen config check`` but do not stop the gateway (the list:
   :mod:`limen.config.checks`).

Secrets never live in the config: ``password_env`` and ``password_file`` name
where to find them, and :meth:`Config.resolve_password` reads them at use
time into a :class:`Secret`, whose ``repr`` never shows the value. A plain
``password`` (dev resources only) is decoded straight into a :class:`Secret`.

Relative paths in a config file are relative to the folder of that file.

One module per job; this package re-exports the public names:

- ``errors``: :class:`Issue`, :class:`ConfigError`, :class:`SecretError`
- ``values``: :class:`Duration`, :class:`ByteSize`, :class:`Address`, loopback hosts
- ``secrets``: :class:`Secret`, reading passwords from env vars and files
- ``schema/``: the structs, one module per section (``gateway``, ``identity``,
  ``resources``, ``rules``) and ``root`` (:class:`Config`)
- ``decode``: msgspec decoding, its first error as an :class:`Issue` at a JSON path
- ``load``: :func:`load_config`, :func:`load_config_text`, :func:`load_config_data`
- ``checks/``: :func:`check`, one module per section
"""

from __future__ import annotations

from limen.config.checks import check
from limen.config.errors import ConfigError, Issue, SecretError
from limen.config.load import load_config, load_config_data, load_config_text
from limen.config.schema import (
    ALLOWED_ALGORITHMS,
    MYSQL_DANGERS,
    STATEMENT_CLASSES,
    Config,
    DevClient,
    DevIdPConfig,
    GatewayConfig,
    IdentityConfig,
    ListenersConfig,
    OIDCConfig,
    Resource,
    Rule,
    StaticKey,
    UpstreamTLS,
    known_detectors,
)
from limen.config.schema import PROTOCOLS as PROTOCOLS
from limen.config.schema import Algorithm as Algorithm
from limen.config.schema import MaskRuleConfig as MaskRuleConfig
from limen.config.schema import Protocol as Protocol
from limen.config.schema import StatementClass as StatementClass
from limen.config.schema import sqlite_path as sqlite_path
from limen.config.secrets import Secret
from limen.config.values import Address, ByteSize, Duration, is_loopback_host

__all__ = [
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
]
