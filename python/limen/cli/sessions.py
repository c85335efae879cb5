"""``limen sessions``: list, verify, replay and export recorded sessions.

``verify``, ``replay`` and ``export`` take a log file's path, or with
``--config FILE`` a session id (or an unambiguous prefix of one, at least 6
characters) looked up in the gateway's session index. ``list`` needs
``--config``. With ``--config``, ``verify`` trusts the gateway's own recording
key from that configuration, and a log whose file is gone is read from its
copy (``[gateway] recordings_copy``: :mod:`limen.cli.sessions_locate`).
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import json
import sys
from pathlib import Path
from typing import Any

import msgspec

from limen import recording
from limen.cli import CheckFailed, UsageError, sessions_cast, sessions_keygen
from limen.cli._configfile import open_state_store
from limen.cli.sessions_locate import gateway_public_key, load_key, log_path
from limen.harexport import HarError, har_document
from limen.mysqltext import MySqlReplay
from limen.pgtext import render_backend

_DIRECTION = {
    recording.Kind.C2U: "bot -> upstream",
    recording.Kind.U2C: "upstream -> bot",
}


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser(
        "sessions",
        help="verify, replay and export recorded session logs",
        description=(
            "Work with limen session logs: tamper-evident files holding every "
            "command and response of a session (see docs/recording-format.md)."
        ),
    )
    sub = p.add_subparsers(dest="sessions_command", metavar="SUBCOMMAND")
    sub.required = True

    ls = sub.add_parser(
        "list",
        help="recorded sessions, newest first",
        description=(
            "List the sessions in the gateway's session index, newest first: id, identity, "
            "resource, protocol, start, end and number of statements."
        ),
    )
    ls.add_argument("--config", required=True, metavar="FILE", help="the limen configuration")
    ls.add_argument("--json", action="store_true", help="one JSON object per line")
    ls.add_argument("--limit", type=int, default=50, metavar="N", help="at most N (default 50)")
    ls.set_defaults(func=cmd_list)

    def target(sp: argparse.ArgumentParser) -> None:
        sp.add_argument(
            "target",
            metavar="ID|FILE",
            help="a log file's path, or with --config a session id (or a prefix of one)",
        )
        sp.add_argument(
            "--config",
            metavar="FILE",
            help="look the session id up in this configuration's session index",
        )

    def key_arg(sp: argparse.ArgumentParser) -> None:
        sp.add_argument(
            "--key", metavar="FILE", type=Path, help="recipient private key (encrypted logs)"
        )

    v = sub.add_parser(
        "verify",
        help="check a log: exit 0 when intact and signed, 1 naming the first bad record",
        description=(
            "Check every record's checksum, the hash chain, the trailer's counts and its "
            "Ed25519 signature. Exit 0: intact and signed by --public-key. Exit 1: tampered "
            "(the first bad record is named) or truncated (no trailer: the writer crashed or "
            "is still running; every complete record is intact), or written in a format "
            "version this limen does not read (said so). A log names its own signing "
            "key, but anyone forging a whole log can name theirs: pass --public-key (the "
            "gateway's recording public key) to check who signed it, or --integrity-only to "
            "accept the log's own key and check integrity alone."
        ),
    )
    target(v)
    keys = v.add_mutually_exclusive_group()
    keys.add_argument(
        "--public-key",
        metavar="FILE",
        type=Path,
        help="the trusted Ed25519 public key file (limen sessions keygen writes one)",
    )
    keys.add_argument(
        "--integrity-only",
        action="store_true",
        help="check integrity against the key the log names itself (not authenticity)",
    )
    v.add_argument("--json", action="store_true", help="print the result as JSON")
    v.set_defaults(func=cmd_verify)

    r = sub.add_parser(
        "replay",
        help="print a session as a readable transcript",
        description=(
            "Print each record: time since the session start, direction or event kind, and "
            "the payload as text when it is printable UTF-8, escaped otherwise. Records are "
            "checked as they are read; a bad record stops the replay with exit 1."
        ),
    )
    target(r)
    key_arg(r)
    sessions_cast.add_play_arguments(r)
    r.set_defaults(func=cmd_replay)

    e = sub.add_parser(
        "export",
        help="machine-readable export (jsonl; har for an http session; asciicast for ssh)",
        description=(
            "jsonl: the session as JSON lines: one header object, one object per record "
            '({"type": "record", "seq", "t_us", "kind", and "text" when the payload is '
            'UTF-8, else "base64"}), and an end object with the log\'s status. '
            "har: an http session as one HAR 1.2 document (an entry per request and "
            "response, bodies as recorded: masked; credential headers redacted). asciicast: "
            "an SSH session as asciicast v2 (output, input, resize events) for asciinema "
            "play; the log is verified first (--config or --public-key: its signer too)."
        ),
    )
    target(e)
    e.add_argument(
        "--format", required=True, choices=["jsonl", "har", "asciicast"], help="output format"
    )
    e.add_argument(
        "--public-key",
        metavar="FILE",
        type=Path,
        help="asciicast: verify the log against this recording public key first",
    )
    key_arg(e)
    e.set_defaults(func=cmd_export)

    k = sub.add_parser(
        "keygen",
        help="create a recording signing key or an auditor's encryption key pair",
        description=(
            "Write PREFIX.key (private, mode 0600) and PREFIX.pub. --type signing: the "
            "gateway's Ed25519 recording key (give PREFIX.pub to whoever verifies logs). "
            "--type recipient: an auditor's X25519 key pair (give PREFIX.pub to the gateway; "
            "PREFIX.key reads the encrypted logs)."
        ),
    )
    k.add_argument("prefix", metavar="PREFIX", type=Path, help="path prefix of the two files")
    k.add_argument("--type", required=True, choices=["signing", "recipient"])
    k.set_defaults(func=sessions_keygen.cmd_keygen)


def _describe(h: recording.Header | None) -> str:
    if h is None:
        return ""
    return (
        f"session {h.session_id}, identity {h.identity}, resource {h.resource}, "
        f"protocol {h.protocol}"
    )


def cmd_verify(args: argparse.Namespace) -> int:
    path = log_path(args)
    if args.public_key is None and not args.integrity_only and args.config is None:
        raise UsageError(
            "pass --public-key FILE (the recording public key you trust), or "
            "--integrity-only to check integrity without checking who signed the log"
        )
    if args.public_key is None and not args.integrity_only:
        public: bytes | None = gateway_public_key(args)
    else:
        public = load_key(args.public_key, "signing-public")
    res = recording.verify(path, public)
    if args.json:
        out: dict[str, Any] = {
            "status": res.status,
            "ok": res.ok,
            "authenticated": res.authenticated,
            "first_bad": res.first_bad,
            "code": res.code,
            "reason": res.reason,
            "records": res.records,
            "payload_bytes": res.payload_bytes,
        }
        if res.header is not None:
            out["session_id"] = res.header.session_id
            out["signing_key_id"] = res.header.signing_key_id
        print(json.dumps(out))
        return 0 if res.ok else 1
    if res.code == "version":
        # Written by another limen version: nothing says it was altered.
        raise CheckFailed(f"{path}: UNSUPPORTED: {res.reason}; read it with a matching limen")
    if res.tampered:
        where = f"record {res.first_bad}" if res.first_bad is not None else "header"
        raise CheckFailed(f"{path}: TAMPERED at {where}: {res.reason}")
    if res.truncated:
        raise CheckFailed(
            f"{path}: TRUNCATED: no signed trailer (the writer crashed or is still running); "
            f"the {res.records} complete records are intact. {res.reason}"
        )
    h = res.header
    key = h.signing_key_id if h is not None else "?"
    if res.authenticated:
        print(f"{path}: intact, {res.records} records, signed by key id {key}; {_describe(h)}")
    else:
        print(
            f"{path}: intact (integrity only), {res.records} records; signed by the key the "
            f"log names itself (key id {key}), authenticity NOT checked; {_describe(h)}"
        )
    return 0


def render_payload(payload: bytes) -> str:
    """Text when the payload is printable UTF-8 (newlines and tabs allowed),
    else every non-printable byte escaped; never raw control characters."""
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError:
        text = None
    if text is not None and all(c.isprintable() or c in "\n\t" for c in text):
        return text
    out = []
    for b in payload:
        if b == 0x5C:
            out.append("\\\\")
        elif 0x20 <= b < 0x7F:
            out.append(chr(b))
        else:
            out.append({0x0A: "\\n", 0x0D: "\\r", 0x09: "\\t"}.get(b, f"\\x{b:02x}"))
    return "".join(out)


def _open(args: argparse.Namespace) -> recording.LogReader:
    path = log_path(args)
    key = load_key(args.key, "recipient")
    try:
        return recording.open_log(path, key)
    except recording.LogError as exc:
        raise CheckFailed(f"{path}: {exc}") from None


def cmd_replay(args: argparse.Namespace) -> int:
    if args.play:
        return sessions_cast.cmd_play(args)
    log = _open(args)
    h = log.header
    started = dt.datetime.fromtimestamp(h.start_unix_us / 1e6, tz=dt.UTC)
    print(f"# {_describe(h)}; started {started.isoformat(timespec='milliseconds')}")
    width = 24
    mysql = MySqlReplay()
    try:
        for rec in log:
            label = _DIRECTION.get(rec.kind, rec.kind.value)
            if rec.masked:  # went through limen's masking before it was written
                label += " [masked]"
            rendered = None
            if h.protocol == "postgres" and rec.kind == recording.Kind.U2C:
                rendered = render_backend(rec.payload)
            if rendered is not None and not rendered:
                rendered = ["(ready for query)"]
            if h.protocol == "http" and rec.kind in _DIRECTION:
                # an HTTP head (or a body) line by line, as on the wire
                rendered = render_payload(rec.payload.replace(b"\r\n", b"\n")).split("\n")
                while len(rendered) > 1 and not rendered[-1]:
                    rendered.pop()
            if h.protocol == "mysql" and rec.kind == recording.Kind.U2C:
                rendered = mysql.feed(rec.payload) or ["(part of a response)"]
            lines = rendered or render_payload(rec.payload).split("\n")
            print(f"+{rec.t_us / 1e6:.6f}s  {label:<{width}}  {lines[0]}")
            for line in lines[1:]:
                print(f"{'':>{12 + width}}  {line}")
    except recording.LogError as exc:
        sys.stdout.flush()
        raise CheckFailed(f"{args.target}: replay stopped: {exc}") from None
    if log.truncated:
        print("# end: TRUNCATED (no signed trailer: the writer crashed or is still running)")
    else:
        print("# end: closed and signed (run `limen sessions verify` to check who signed it)")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    if args.format == "asciicast":
        return sessions_cast.cmd_export_cast(args)
    log = _open(args)
    if args.format == "har":
        return _export_har(args, log)
    h = log.header
    head: dict[str, Any] = {
        "type": "header",
        "session_id": h.session_id,
        "identity": h.identity,
        "resource": h.resource,
        "protocol": h.protocol,
        "start_unix_us": h.start_unix_us,
        "encrypted": h.encrypted,
        "signing_key_id": h.signing_key_id,
    }
    print(json.dumps(head))
    try:
        for rec in log:
            obj: dict[str, Any] = {
                "type": "record",
                "seq": rec.seq,
                "t_us": rec.t_us,
                "kind": rec.kind.value,
                "masked": rec.masked,
            }
            try:
                obj["text"] = rec.payload.decode("utf-8")
            except UnicodeDecodeError:
                obj["base64"] = base64.b64encode(rec.payload).decode("ascii")
            print(json.dumps(obj))
    except recording.LogError as exc:
        sys.stdout.flush()
        raise CheckFailed(f"{args.target}: export stopped: {exc}") from None
    print(json.dumps({"type": "end", "status": "truncated" if log.truncated else "closed"}))
    return 0


def _export_har(args: argparse.Namespace, log: recording.LogReader) -> int:
    try:
        doc = har_document(log)
    except HarError as exc:
        raise UsageError(str(exc)) from None
    except recording.LogError as exc:
        raise CheckFailed(f"{args.target}: export stopped: {exc}") from None
    print(json.dumps(doc, indent=1))
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    _config, store = open_state_store(args)
    try:
        rows = store.sessions(limit=max(1, args.limit))
    finally:
        store.close()
    if args.json:
        for r in rows:
            print(json.dumps(msgspec.to_builtins(r)))
        return 0
    if not rows:
        print("no recorded sessions")
        return 0

    def when(t: float | None) -> str:
        if t is None:
            return "(open)"
        return dt.datetime.fromtimestamp(t, tz=dt.UTC).strftime("%Y-%m-%d %H:%M:%S")

    table = [("ID", "IDENTITY", "RESOURCE", "PROTOCOL", "START (UTC)", "END (UTC)", "STMTS")]
    table += [
        (
            r.id,
            r.subject,
            r.resource,
            r.protocol,
            when(r.started_at),
            when(r.ended_at),
            str(r.statements),
        )
        for r in rows
    ]
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
    for row in table:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
    return 0
