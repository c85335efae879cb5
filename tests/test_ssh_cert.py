"""limen's SSH user CA (:mod:`limen.identity.sshca`): certificates it
issues verify back to the same identity; everything else is refused: another
CA's signature, a host certificate, outside the validity window, critical
options, foreign principals, a missing or malformed identity extension, any
changed byte (property test), and arbitrary bytes never raise anything but
CertError (fuzz)."""

from __future__ import annotations

import base64

import hypothesis.strategies as st
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import (
    SSHCertificateBuilder,
    SSHCertificateType,
)
from hypothesis import given, settings

from limen.identity import Identity
from limen.identity.sshca import CERT_EXTENSION, CertError, SshCa, load_or_create_ca

NOW = 1_800_000_000.0


def _identity(exp: int = int(NOW) + 600) -> Identity:
    return Identity(
        subject="ci-bot",
        groups=("ci", "deploy"),
        issuer="https://idp.example",
        expires_at=exp,
        token_id="jti-1",
        method="oidc",
    )


def _public_line() -> tuple[Ed25519PrivateKey, str]:
    key = Ed25519PrivateKey.generate()
    line = key.public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
    )
    return key, line.decode() + " bot@ci"


def _blob(line: str) -> tuple[str, bytes]:
    kind, b64 = line.split()[:2]
    return kind, base64.b64decode(b64)


CA = SshCa(Ed25519PrivateKey.generate())
_, PUB = _public_line()
ISSUED = CA.issue(_identity(), PUB, now=NOW, max_lifetime=3600)


def test_issue_and_verify_round_trip() -> None:
    cert = CA.issue(_identity(), PUB, now=NOW, max_lifetime=3600)
    assert cert.principals == ("ci-bot",)
    assert cert.valid_after == int(NOW)
    assert cert.valid_before == int(NOW) + 600  # the token's expiry, not the hour
    assert cert.key_id == f"limen:ci-bot:serial={cert.serial}"
    kind, blob = _blob(cert.line)
    assert kind == "ssh-ed25519-cert-v01@openssh.com"
    got = CA.verify(kind, blob, now=NOW + 10)
    assert got.subject == "ci-bot"
    assert got.groups == ("ci", "deploy")
    assert got.issuer == "https://idp.example"
    assert got.token_id == "jti-1"
    assert got.expires_at == int(NOW) + 600
    assert got.method == "ssh_cert"


def test_lifetime_is_capped_and_expired_tokens_refused() -> None:
    cert = CA.issue(_identity(int(NOW) + 86400), PUB, now=NOW, max_lifetime=900)
    assert cert.valid_before == int(NOW) + 900
    with pytest.raises(CertError, match="expired"):
        CA.issue(_identity(int(NOW) - 1), PUB, now=NOW, max_lifetime=900)
    static = Identity(
        subject="k", groups=(), issuer="x", expires_at=None, token_id=None, method="static_key"
    )
    with pytest.raises(CertError, match="expires"):
        CA.issue(static, PUB, now=NOW, max_lifetime=900)


@pytest.mark.parametrize("bad", ["", "ssh-ed25519", "ssh-ed25519 AAAA", "garbage line", "x" * 9000])
def test_bad_public_keys_are_refused(bad: str) -> None:
    with pytest.raises(CertError):
        CA.issue(_identity(), bad, now=NOW, max_lifetime=3600)


def test_a_certificate_is_not_a_public_key() -> None:
    with pytest.raises(CertError, match="not a certificate"):
        CA.issue(_identity(), ISSUED.line, now=NOW, max_lifetime=3600)


def test_validity_window() -> None:
    kind, blob = _blob(ISSUED.line)
    CA.verify(kind, blob, now=NOW)
    with pytest.raises(CertError, match="expired or not yet valid"):
        CA.verify(kind, blob, now=NOW + 600)
    with pytest.raises(CertError, match="expired or not yet valid"):
        CA.verify(kind, blob, now=NOW - 1)


def test_another_ca_is_refused() -> None:
    other = SshCa(Ed25519PrivateKey.generate())
    kind, blob = _blob(other.issue(_identity(), PUB, now=NOW, max_lifetime=3600).line)
    with pytest.raises(CertError, match="not signed by limen's CA"):
        CA.verify(kind, blob, now=NOW)


def _forged(
    *,
    kind: SSHCertificateType = SSHCertificateType.USER,
    principals: list[bytes] | None = None,
    critical: bool = False,
    extension: bytes | None = b'{"sub":"ci-bot","groups":[],"iss":"x","exp":1800000600}',
) -> tuple[str, bytes]:
    """Certificates limen's own CA key signs but limen never issues."""
    builder = (
        SSHCertificateBuilder()
        .public_key(Ed25519PrivateKey.generate().public_key())
        .serial(7)
        .type(kind)
        .key_id(b"x")
        .valid_after(int(NOW))
        .valid_before(int(NOW) + 600)
    )
    builder = builder.valid_principals(principals if principals is not None else [b"ci-bot"])
    if critical:
        builder = builder.add_critical_option(b"force-command", b"true")
    if extension is not None:
        builder = builder.add_extension(CERT_EXTENSION, extension)
    cert = builder.sign(CA.key)
    return _blob(cert.public_bytes().decode())


@pytest.mark.parametrize(
    ("forged", "reason"),
    [
        (lambda: _forged(kind=SSHCertificateType.HOST), "not a user certificate"),
        (lambda: _forged(critical=True), "critical options"),
        (lambda: _forged(principals=[b"root"]), "principals"),
        (lambda: _forged(principals=[b"ci-bot", b"root"]), "principals"),
        (lambda: _forged(extension=None), "no limen identity"),
        (lambda: _forged(extension=b"not json"), "malformed"),
        (lambda: _forged(extension=b'{"sub":"ci-bot","groups":[],"iss":"x","exp":5}'), "validity"),
    ],
)
def test_certificates_limen_never_issues_are_refused(forged, reason: str) -> None:  # type: ignore[no-untyped-def]
    kind, blob = forged()
    with pytest.raises(CertError, match=reason):
        CA.verify(kind, blob, now=NOW)


def test_plain_key_type_is_not_a_certificate() -> None:
    kind, blob = _blob(PUB)
    with pytest.raises(CertError, match="not a certificate"):
        CA.verify(kind, blob, now=NOW)


@settings(max_examples=1000, deadline=None)
@given(st.data())
def test_any_changed_byte_is_refused(data: st.DataObject) -> None:
    kind, blob = _blob(ISSUED.line)
    at = data.draw(st.integers(0, len(blob) - 1))
    flip = data.draw(st.integers(1, 255))
    changed = bytearray(blob)
    changed[at] ^= flip
    with pytest.raises(CertError):
        CA.verify(kind, bytes(changed), now=NOW)


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from(
        ["ssh-ed25519-cert-v01@openssh.com", "ssh-rsa-cert-v01@openssh.com", "ssh-ed25519"]
    ),
    st.binary(max_size=2048),
)
def test_fuzz_arbitrary_bytes_only_raise_cert_error(kind: str, blob: bytes) -> None:
    with pytest.raises(CertError):
        CA.verify(kind, blob, now=NOW)


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 400), st.binary(max_size=64))
def test_fuzz_truncated_and_extended_certificates(cut: int, tail: bytes) -> None:
    kind, blob = _blob(ISSUED.line)
    mangled = blob[: len(blob) - 1 - cut] + tail
    if mangled == blob:
        return
    with pytest.raises(CertError):
        CA.verify(kind, mangled, now=NOW)


def test_ca_key_file_is_created_private_and_reused(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "state" / "ssh-user-ca.key"
    first = SshCa(load_or_create_ca(path))
    assert path.stat().st_mode & 0o777 == 0o600
    again = SshCa(load_or_create_ca(path))
    assert first.public_line() == again.public_line()
    path.chmod(0o644)
    with pytest.raises(CertError, match="readable by others"):
        load_or_create_ca(path)
