"""The configuration schema (docs/interface.md) as frozen :class:`msgspec.Struct`
values with unknown fields forbidden, one module per section: ``gateway``
(``[gateway]``, ``[listeners]``), ``identity``, ``resources``, ``rules``
(``[[rules]]``, ``[[mask_rules]]``), and ``root`` (:class:`Config`, the whole)."""

from __future__ import annotations

from limen.config.schema.base import (
    ALLOWED_ALGORITHMS,
    MYSQL_DANGERS,
    PROTOCOLS,
    STATEMENT_CLASSES,
    Algorithm,
    MysqlDanger,
    Protocol,
    RuleClass,
    StatementClass,
    Strict,
    known_detectors,
)
from limen.config.schema.gateway import STATE_COPY, GatewayConfig, ListenersConfig, sqlite_path
from limen.config.schema.identity import (
    DevClient,
    DevIdPConfig,
    IdentityConfig,
    OIDCConfig,
    StaticKey,
)
from limen.config.schema.resources import Resource, UpstreamTLS
from limen.config.schema.root import Config
from limen.config.schema.rules import MaskRuleConfig, Rule

__all__ = [
    "ALLOWED_ALGORITHMS",
    "MYSQL_DANGERS",
    "PROTOCOLS",
    "STATEMENT_CLASSES",
    "STATE_COPY",
    "Algorithm",
    "Config",
    "DevClient",
    "DevIdPConfig",
    "GatewayConfig",
    "IdentityConfig",
    "ListenersConfig",
    "MaskRuleConfig",
    "MysqlDanger",
    "OIDCConfig",
    "Protocol",
    "Resource",
    "Rule",
    "RuleClass",
    "StatementClass",
    "StaticKey",
    "Strict",
    "UpstreamTLS",
    "known_detectors",
    "sqlite_path",
]
