"""``limen sessions keygen``: a recording signing key or an auditor's
encryption key pair."""

from __future__ import annotations

import argparse
from pathlib import Path

from limen import recording
from limen.cli import UsageError

__all__ = ["cmd_keygen"]


def cmd_keygen(args: argparse.Namespace) -> int:
    prefix: Path = args.prefix
    priv_path, pub_path = Path(f"{prefix}.key"), Path(f"{prefix}.pub")
    for p in (priv_path, pub_path):
        if p.exists():
            raise UsageError(f"{p}: already exists; not overwriting a key")
    if args.type == "signing":
        private = recording.generate_signing_key()
        public = recording.signing_public_key(private)
        types: tuple[recording.KeyType, recording.KeyType] = ("signing", "signing-public")
    else:
        pair = recording.generate_recipient_key()
        private, public = pair.private, pair.public
        types = ("recipient", "recipient-public")
    try:
        recording.save_key(priv_path, private, types[0])
        recording.save_key(pub_path, public, types[1])
    except FileExistsError as exc:
        raise UsageError(f"{exc.filename}: already exists; not overwriting a key") from None
    print(f"{priv_path} (private) and {pub_path}: key id {recording.key_id(public)}")
    return 0
