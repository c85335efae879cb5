"""The identity, token, keys and config commands, run as real processes
through the installed ``limen`` entry point."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import pytest
import trio

from oidc_provider import Provider

pytestmark = pytest.mark.integration

LIMEN = str(Path(sys.executable).parent / "limen")
ROOT = Path(__file__).resolve().parent.parent

DEV = """
[gateway]
state = "sqlite://state/limen.db"
[identity.dev]
enabled = true
{dev_extra}
{extra}
"""


def limen(*args: str, stdin: str = "", cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [LIMEN, *args],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=60,
        check=False,
    )


def write_config(tmp_path: Path, name: str = "limen.toml", extra: str = "", dev: str = "") -> Path:
    path = tmp_path / name
    path.write_text(DEV.format(extra=extra, dev_extra=dev))
    return path


def test_help_for_every_command() -> None:
    for args in (
        [],
        ["config"],
        ["config", "check"],
        ["identity"],
        ["identity", "verify"],
        ["identity", "rotate-dev-key"],
        ["keys"],
        ["keys", "hash"],
        ["token"],
    ):
        result = limen(*args, "--help")
        assert result.returncode == 0, result.stderr
        assert "usage: limen" in result.stdout


def test_token_then_verify_round_trip(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    minted = limen(
        "token", "--config", str(config), "--sub", "ci-bot", "--group", "ci", "--group", "ops"
    )
    assert minted.returncode == 0, minted.stderr
    token = minted.stdout.strip()
    assert minted.stdout == token + "\n"  # the token alone on stdout
    assert token.count(".") == 2
    assert (tmp_path / "state" / "dev-idp-keys.json").exists()

    verified = limen("identity", "verify", "--config", str(config), stdin=token + "\n")
    assert verified.returncode == 0, verified.stderr
    identity = json.loads(verified.stdout)
    assert identity["subject"] == "ci-bot"
    assert identity["groups"] == ["ci", "ops"]
    assert identity["issuer"] == "http://127.0.0.1:8898"
    assert identity["method"] == "dev"
    assert identity["token_id"]
    assert identity["expiry"].endswith("Z")
    assert token not in verified.stdout + verified.stderr


def test_rotated_key_old_and_new_tokens_verify(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    old = limen("token", "--config", str(config), "--sub", "a").stdout.strip()
    rotated = limen("identity", "rotate-dev-key", "--config", str(config))
    assert rotated.returncode == 0, rotated.stderr
    new = limen("token", "--config", str(config), "--sub", "b").stdout.strip()
    header = json.loads(base64.urlsafe_b64decode(new.split(".")[0] + "=="))
    assert header["kid"] == rotated.stdout.strip()
    assert json.loads(base64.urlsafe_b64decode(old.split(".")[0] + "=="))["kid"] != header["kid"]
    for token, sub in ((old, "a"), (new, "b")):
        result = limen("identity", "verify", "--config", str(config), stdin=token)
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout)["subject"] == sub


def test_verify_refusals_exit_1_with_a_reason(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    other = write_config(tmp_path, "other.toml", dev='audience = "someone-else"')
    token = limen("token", "--config", str(other), "--sub", "bot").stdout.strip()
    result = limen("identity", "verify", "--config", str(config), stdin=token)
    assert result.returncode == 1
    refusal = json.loads(result.stdout)
    assert refusal == {"refused": True, "reason": "wrong_audience", "message": refusal["message"]}
    assert "wrong_audience" in result.stderr
    assert token not in result.stdout + result.stderr

    tampered = token[:-6] + ("AAAAAA" if not token.endswith("AAAAAA") else "BBBBBB")
    result = limen("identity", "verify", "--config", str(other), stdin=tampered)
    assert result.returncode == 1
    assert json.loads(result.stdout)["reason"] == "bad_signature"

    result = limen("identity", "verify", "--config", str(config), stdin="not a token\n")
    assert result.returncode == 1
    assert json.loads(result.stdout)["reason"] == "unknown_credential"

    result = limen("identity", "verify", "--config", str(config), stdin="")
    assert result.returncode == 2


def test_token_refusals_are_usage_errors(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    too_long = limen("token", "--config", str(config), "--sub", "x", "--ttl", "2h")
    assert too_long.returncode == 2
    assert "maximum token lifetime" in too_long.stderr
    assert too_long.stdout == ""
    bad = limen("token", "--config", str(config), "--sub", "x", "--ttl", "soon")
    assert bad.returncode == 2
    assert "duration" in bad.stderr
    no_dev = tmp_path / "nodev.toml"
    no_dev.write_text("[identity.dev]\nenabled = false\n")
    refused = limen("token", "--config", str(no_dev), "--sub", "x")
    assert refused.returncode == 2
    assert "not enabled" in refused.stderr
    assert limen("token", "--config", str(config)).returncode == 2  # --sub is required


def test_keys_hash_then_the_key_authenticates(tmp_path: Path) -> None:
    key = "legacy-ci-key-0123456789abcdef"
    hashed = limen("keys", "hash", "--name", "legacy-ci", "--group", "ci", stdin=key + "\n")
    assert hashed.returncode == 0, hashed.stderr
    assert key not in hashed.stdout + hashed.stderr
    entry = tomllib.loads(hashed.stdout)["identity"]["keys"][0]
    assert entry == {
        "name": "legacy-ci",
        "sha256": hashlib.sha256(key.encode()).hexdigest(),
        "groups": ["ci"],
    }
    config = write_config(tmp_path, extra=hashed.stdout)
    result = limen("identity", "verify", "--config", str(config), stdin=key)
    assert result.returncode == 0, result.stderr
    identity = json.loads(result.stdout)
    assert (identity["subject"], identity["groups"], identity["method"]) == (
        "legacy-ci",
        ["ci"],
        "static_key",
    )
    wrong = limen("identity", "verify", "--config", str(config), stdin=key + "x")
    assert wrong.returncode == 1
    assert json.loads(wrong.stdout)["reason"] == "unknown_credential"


def test_keys_hash_warns_on_short_keys_and_refuses_empty() -> None:
    short = limen("keys", "hash", stdin="abc")
    assert short.returncode == 0
    assert "only 3 characters" in short.stderr
    assert limen("keys", "hash", stdin="").returncode == 2


@pytest.mark.skipif(not hasattr(os, "openpty"), reason="needs a pseudo-terminal")
def test_keys_hash_does_not_echo_on_a_terminal() -> None:
    import pty

    key = "typed-at-a-terminal-9876"
    pid, fd = pty.fork()
    if pid == 0:  # child: the real command on the pty
        os.execv(LIMEN, [LIMEN, "keys", "hash"])
    seen = b""
    while b"static key:" not in seen:
        seen += os.read(fd, 1024)
    os.write(fd, key.encode() + b"\n")
    while True:
        try:
            chunk = os.read(fd, 1024)
        except OSError:
            break
        if not chunk:
            break
        seen += chunk
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    text = seen.decode()
    assert hashlib.sha256(key.encode()).hexdigest() in text
    assert key not in text


# --- limen config check ------------------------------------------------------------


def test_config_check_ok_and_summary() -> None:
    result = limen("config", "check", "--config", str(ROOT / "examples" / "limen.toml"))
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("OK: ")
    assert "4 resources, 5 rules" in result.stdout
    assert "http 127.0.0.1:6480" in result.stdout
    assert len(result.stdout.strip().splitlines()) == 1


def test_config_check_errors_exit_2_naming_paths(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(
        '[[resources]]\nname = "db"\nprotocol = "postgres"\nupstream = "127.0.0.1:5432"\n'
        '[[rules]]\nname = "r"\ngroups = ["ci"]\nresources = ["dbx"]\nhold = ["write"]\n'
    )
    result = limen("config", "check", "--config", str(bad))
    assert result.returncode == 2
    assert "$.rules[0].resources[0]" in result.stderr
    assert "$.rules[0].approvers" in result.stderr
    assert result.stdout == ""


def test_config_check_strict_and_secrets(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(
        "listeners:\n  postgres: 127.0.0.1:6432\n"
        "identity:\n  dev:\n    enabled: true\n"
        "resources:\n"
        "  - {name: db, protocol: postgres, upstream: '127.0.0.1:5432', "
        "password_env: LIMEN_CLI_TEST_UNSET}\n"
        "  - {name: spare, protocol: postgres, upstream: '127.0.0.1:5433'}\n"
        "rules:\n  - {name: r, groups: [ci], resources: [db], allow: [read]}\n"
    )
    ok = limen("config", "check", "--config", str(path))
    assert ok.returncode == 0, ok.stderr
    assert "warning: $.resources[1].name" in ok.stderr
    strict = limen("config", "check", "--strict", "--config", str(path))
    assert strict.returncode == 2
    assert "$.resources[1].name" in strict.stderr
    secrets = limen("config", "check", "--secrets", "--config", str(path))
    assert secrets.returncode == 2
    assert "LIMEN_CLI_TEST_UNSET is not set" in secrets.stderr


def test_bad_config_is_exit_2_for_every_command(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[gateway]\nstate = 5\n")
    for args in (
        ["config", "check"],
        ["token", "--sub", "x"],
        ["identity", "verify"],
        ["identity", "rotate-dev-key"],
    ):
        result = limen(*args, "--config", str(bad), stdin="x")
        assert result.returncode == 2, args
        assert "$.gateway.state" in result.stderr


async def test_verify_against_an_oidc_provider(tmp_path: Path, nursery: trio.Nursery) -> None:
    """`limen identity verify` reaches a real provider's discovery and JWKS."""
    provider = Provider()
    provider.add_key("k1", "ES256")
    await nursery.start(provider.serve)
    config = tmp_path / "oidc.toml"
    config.write_text(
        f'[identity.oidc]\nissuer = "{provider.issuer}"\ngroups_claim = "realm.roles"\n'
    )
    now = time.time()
    good = provider.sign(provider.claims(now, groups=None, realm={"roles": ["ops"]}), "k1")
    expired = provider.sign(provider.claims(now - 3600, exp=int(now) - 600), "k1")
    for token, code in ((good, 0), (expired, 1)):
        result = await trio.run_process(
            [LIMEN, "identity", "verify", "--config", str(config)],
            stdin=token.encode(),
            capture_stdout=True,
            capture_stderr=True,
            check=False,
        )
        assert result.returncode == code, result.stderr
        out = json.loads(result.stdout)
        if code == 0:
            assert (out["subject"], out["groups"], out["method"]) == ("bot-1", ["ops"], "oidc")
        else:
            assert out["reason"] == "expired"
    assert provider.jwks_requests == 2  # one process each, each fetched the keys
