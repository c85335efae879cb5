"""``limen ssh cert`` and ``limen ssh config``: an OpenSSH user certificate
for a bot, and the client lines that trust limen's SSH host key.

``cert`` sends the bot's public key with its token (a file, an environment
variable, or client credentials) to the admin API's ``POST /v1/ssh/cert``
and writes the certificate; the bot then runs plain ``ssh -o
CertificateFile=…``. ``config`` prints the ``~/.ssh/config`` stanza and the
``known_hosts`` line for limen's host key (read from the state folder).
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import httpx

from limen.cli import CheckFailed, UsageError
from limen.cli._configfile import load_config_arg

MAX_TOKEN = 65536
_WILDCARD = ("0.0.0.0", "::", "")  # noqa: S104 (a listen address, mapped to loopback)


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser(
        "ssh",
        help="SSH certificates for bots and the client config for limen's SSH listener",
        description="OpenSSH user certificates from limen's CA, and ~/.ssh lines for limen.",
    )
    sub = p.add_subparsers(dest="ssh_command", metavar="SUBCOMMAND")
    sub.required = True

    c = sub.add_parser(
        "cert",
        help="trade a token and a public key for an OpenSSH user certificate",
        description=(
            "Send the public key (--key) and a token to the gateway's admin API (POST "
            "/v1/ssh/cert) and write the certificate it signs: principal = the token's "
            "subject, valid until the token expires. The token comes from --token-file, "
            "--token-env (default LIMEN_TOKEN), or client credentials (--issuer, --client-id, "
            "secret in --client-secret-env). Then: ssh -o CertificateFile=OUT -i KEY -p PORT "
            "RESOURCE@gateway."
        ),
    )
    c.add_argument("--key", required=True, type=Path, metavar="PUB", help="the public key file")
    c.add_argument(
        "-o",
        "--output",
        type=Path,
        metavar="FILE",
        help="where to write the certificate (default: KEY's name with -cert.pub, "
        "which OpenSSH loads beside the key by itself)",
    )
    where = c.add_mutually_exclusive_group(required=True)
    where.add_argument("--url", metavar="URL", help="the admin API, e.g. https://limen:8899")
    where.add_argument("--config", metavar="FILE", help="take the admin address from this config")
    c.add_argument("--cacert", type=Path, metavar="FILE", help="CA bundle for an HTTPS admin API")
    tok = c.add_mutually_exclusive_group()
    tok.add_argument("--token-file", type=Path, metavar="FILE", help="a file holding the token")
    tok.add_argument("--token-env", metavar="VAR", help="an environment variable holding the token")
    tok.add_argument("--client-id", metavar="ID", help="client credentials: the client id")
    c.add_argument("--issuer", metavar="URL", help="client credentials: the OIDC issuer")
    c.add_argument(
        "--client-secret-env",
        default="LIMEN_CLIENT_SECRET",
        metavar="VAR",
        help="client credentials: the variable holding the secret (default LIMEN_CLIENT_SECRET)",
    )
    c.set_defaults(func=cmd_cert)

    g = sub.add_parser(
        "config",
        help="print the ~/.ssh/config stanza and the known_hosts line for limen",
        description=(
            "Print a ~/.ssh/config Host stanza for the gateway's SSH listener and the "
            "known_hosts line pinning limen's SSH host key (HostKeyAlias, so one line "
            "holds whatever address the bot uses)."
        ),
    )
    g.add_argument("--config", required=True, metavar="FILE", help="the limen configuration")
    g.add_argument("--host", default="limen", metavar="ALIAS", help="the Host alias (limen)")
    g.add_argument(
        "--address",
        metavar="HOST[:PORT]",
        help="the address bots reach the listener on (default: [listeners] ssh)",
    )
    g.add_argument(
        "--identity",
        default="~/.ssh/id_ed25519",
        metavar="KEY",
        help="the bot's private key; its certificate is KEY-cert.pub",
    )
    g.set_defaults(func=cmd_config)


def _token(args: argparse.Namespace) -> str:
    if args.client_id is not None:
        from limen.client import ClientCredentials, TokenError

        secret = os.environ.get(args.client_secret_env, "")
        if not args.issuer or not secret:
            raise UsageError(
                f"client credentials need --issuer and the secret in ${args.client_secret_env}"
            )
        try:
            creds = ClientCredentials(
                issuer=args.issuer, client_id=args.client_id, client_secret=secret
            )
            try:
                return str(creds.token())
            finally:
                creds.close()
        except (TokenError, ValueError) as exc:
            raise CheckFailed(f"no token from {args.issuer}: {exc}") from None
    if args.token_file is not None:
        try:
            text = args.token_file.read_text()[:MAX_TOKEN]
        except OSError as exc:
            raise UsageError(f"{args.token_file}: {exc.strerror}") from None
    else:
        var = args.token_env or "LIMEN_TOKEN"
        text = os.environ.get(var, "")[:MAX_TOKEN]
        if not text:
            raise UsageError(f"no token: set ${var}, or pass --token-file or --client-id")
    token = str(text).strip()
    if not token:
        raise UsageError("the token is empty")
    return token


def _admin_url(args: argparse.Namespace) -> str:
    if args.url is not None:
        return str(args.url).rstrip("/")
    config = load_config_arg(args)
    at = config.gateway.admin
    host = "127.0.0.1" if at.host in _WILDCARD else at.host
    scheme = "https" if config.listeners.tls_cert else "http"
    return f"{scheme}://{host}:{at.port}"


def cmd_cert(args: argparse.Namespace) -> int:
    try:
        public = args.key.read_text().strip()
    except OSError as exc:
        raise UsageError(f"{args.key}: {exc.strerror}") from None
    out: Path = args.output or args.key.with_name(args.key.name.removesuffix(".pub") + "-cert.pub")
    token = _token(args)
    url = _admin_url(args) + "/v1/ssh/cert"
    verify: str | bool = str(args.cacert) if args.cacert is not None else True
    try:
        resp = httpx.post(
            url,
            json={"public_key": public},
            headers={"authorization": f"Bearer {token}"},
            timeout=15.0,
            verify=verify,
        )
    except httpx.HTTPError as exc:
        raise CheckFailed(f"{url}: {exc}") from None
    try:
        body = resp.json()
    except ValueError:
        body = {}
    if resp.status_code != 200 or not isinstance(body, dict) or "certificate" not in body:
        why = body.get("error_description") if isinstance(body, dict) else None
        raise CheckFailed(f"{url}: {resp.status_code}: {why or resp.text[:200]}")
    out.write_text(str(body["certificate"]) + "\n")
    print(
        f"{out}: certificate {body.get('key_id')}, principals "
        f"{','.join(body.get('principals', []))}, valid until {body.get('valid_before')} "
        "(unix time)"
    )
    return 0


def cmd_config(args: argparse.Namespace) -> int:
    from limen.gateway.ssh.keys import SshKeyError, host_key

    config = load_config_arg(args)
    listen = config.listeners.ssh
    if args.address is not None:
        host, _, port_text = str(args.address).rpartition(":")
        if not host or not port_text.isdigit():
            host, port_text = str(args.address), "2222" if listen is None else str(listen.port)
        port = int(port_text)
    elif listen is not None:
        host = "127.0.0.1" if listen.host in _WILDCARD else listen.host
        port = listen.port
    else:
        raise UsageError("the config has no [listeners] ssh; pass --address HOST:PORT")
    try:
        key = host_key(config)
    except (SshKeyError, OSError) as exc:
        raise CheckFailed(str(exc)) from None
    alias = args.host
    print(f"# ~/.ssh/config (then: ssh RESOURCE@{alias} COMMAND)")
    print(f"Host {alias}")
    print(f"    HostName {host}")
    print(f"    Port {port}")
    print(f"    HostKeyAlias {alias}")
    print(f"    IdentityFile {args.identity}")
    print(f"    CertificateFile {args.identity}-cert.pub")
    print("    IdentitiesOnly yes")
    print("    PreferredAuthentications publickey")
    print("    StrictHostKeyChecking yes")
    print("# ~/.ssh/known_hosts")
    print(f"{alias} {key.get_name()} {key.get_base64()}")
    return 0
