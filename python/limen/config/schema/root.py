""":class:`Config`: a whole limen configuration, its sections, and the
locations derived from it (state folder, key files, paths relative to the
config file's folder)."""

from __future__ import annotations

from pathlib import Path

import msgspec

from limen.config.schema.base import Strict
from limen.config.schema.gateway import GatewayConfig, ListenersConfig, sqlite_path
from limen.config.schema.identity import IdentityConfig
from limen.config.schema.resources import Resource
from limen.config.schema.rules import MaskRuleConfig, Rule
from limen.config.secrets import Secret, resolve_path
from limen.config.values import decode_key32


class Config(Strict, frozen=True):
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
        return resolve_path(value, Path(self.base_dir))

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

    def ssh_ca_key_path(self) -> Path:
        if self.gateway.ssh_ca_key is not None:
            return self.path(self.gateway.ssh_ca_key)
        return self.state_dir() / "ssh-user-ca.key"

    def recording_recipient_key(self) -> bytes | None:
        """The auditor's X25519 public key recordings are encrypted to, if any
        (validated at load: 32 bytes as base64 or hex)."""
        raw = self.gateway.recording_recipient
        return None if raw is None else decode_key32(raw)

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
