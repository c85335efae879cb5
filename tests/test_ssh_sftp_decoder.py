"""limen's SFTP reading (python/limen/gateway/ssh/sftp.py) and the file
operation policy (python/limen/policy/ssh/files.py): packets as OpenSSH
sends them, any split of a stream gives the same packets, arbitrary bytes
raise only SftpError, and each operation is judged by its rules."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from limen.config import load_config_text
from limen.gateway.ssh import sftp
from limen.identity import Identity
from limen.policy import Policy
from limen.policy.ssh import Request, decide_file, decide_ssh, is_scp
from limen.policy.ssh.files import normalise, scp_operation
from limen.policy.ssh.words import Unjudgeable


def s(data: bytes | str) -> bytes:
    raw = data.encode() if isinstance(data, str) else data
    return struct.pack(">I", len(raw)) + raw


def packet(kind: int, body: bytes, rid: int | None = 7) -> bytes:
    payload = bytes([kind]) + (struct.pack(">I", rid) if rid is not None else b"") + body
    return struct.pack(">I", len(payload)) + payload


OPEN_READ = packet(sftp.OPEN, s("/srv/a/../report.txt") + struct.pack(">II", 1, 0))
OPEN_WRITE = packet(sftp.OPEN, s("/drop//x") + struct.pack(">II", 0x1A, 0))
RENAME = packet(sftp.RENAME, s("/a") + s("/b"))
POSIX_RENAME = packet(sftp.EXTENDED, s("posix-rename@openssh.com") + s("/a") + s("/c"))
READ = packet(sftp.READ, s(b"h1") + struct.pack(">QI", 0, 32768))
STREAM = [
    packet(sftp.INIT, struct.pack(">I", 3), rid=None),
    OPEN_READ,
    OPEN_WRITE,
    RENAME,
    POSIX_RENAME,
    READ,
    packet(sftp.EXTENDED, s("copy-data") + s(b"h1")),
    packet(99, b""),
]


def test_client_packets_name_their_operation_and_paths() -> None:
    ops = [sftp.client_op(p) for p in STREAM]
    assert [(o.name, o.paths) for o in ops] == [
        ("init", ()),
        ("read", ("/srv/report.txt",)),
        ("write", ("/drop/x",)),
        ("rename", ("/a", "/b")),
        ("rename", ("/a", "/c")),
        ("read", ()),
        ("unknown", ()),
        ("unknown", ()),
    ]
    assert ops[5].handle == b"h1"
    assert ops[6].extension == "copy-data"


@given(st.lists(st.integers(min_value=1, max_value=40), max_size=30))
def test_any_split_gives_the_same_packets(cuts: list[int]) -> None:
    stream = b"".join(STREAM)
    framer = sftp.Framer()
    got: list[bytes] = []
    at = 0
    for cut in cuts:
        got += framer.feed(stream[at : at + cut])
        at += cut
    got += framer.feed(stream[at:])
    assert got == STREAM
    assert framer.pending == 0


@settings(max_examples=500)
@given(st.binary(max_size=600))
def test_arbitrary_bytes_raise_only_sftp_error(data: bytes) -> None:
    framer = sftp.Framer()
    try:
        for p in framer.feed(data):
            sftp.client_op(p)
            sftp.reply_id(p)
    except sftp.SftpError:
        pass


@settings(max_examples=300)
@given(st.sampled_from(STREAM), st.data())
def test_a_changed_byte_raises_only_sftp_error(base: bytes, data: st.DataObject) -> None:
    at = data.draw(st.integers(min_value=0, max_value=len(base) - 1))
    value = data.draw(st.integers(min_value=0, max_value=255))
    changed = base[:at] + bytes([value]) + base[at + 1 :]
    try:
        for p in sftp.Framer().feed(changed):
            sftp.client_op(p)
    except sftp.SftpError:
        pass


def test_oversized_and_malformed_packets_fail_closed() -> None:
    with pytest.raises(sftp.SftpError):
        sftp.Framer().feed(struct.pack(">I", sftp.MAX_PACKET + 1))
    with pytest.raises(sftp.SftpError):
        sftp.Framer().feed(struct.pack(">I", 0))
    with pytest.raises(sftp.SftpError, match="NUL"):
        sftp.client_op(packet(sftp.REMOVE, s(b"/a\x00b")))
    with pytest.raises(sftp.SftpError, match="UTF-8"):
        sftp.client_op(packet(sftp.REMOVE, s(b"/\xff")))
    with pytest.raises(sftp.SftpError, match="flags"):
        sftp.client_op(packet(sftp.OPEN, s("/a") + struct.pack(">II", 0x40, 0)))
    with pytest.raises(sftp.SftpError, match="truncated"):
        sftp.client_op(OPEN_READ[:-6])


def test_server_replies_and_limen_status() -> None:
    handle = packet(sftp.HANDLE, s(b"hh"), rid=9)
    assert sftp.reply_id(handle) == (sftp.HANDLE, 9)
    assert sftp.handle_of(handle) == b"hh"
    status = sftp.status_packet(5, sftp.FX_PERMISSION_DENIED, "limen: denied")
    assert sftp.Framer().feed(status) == [status]
    assert sftp.reply_id(status) == (sftp.STATUS, 5)
    assert b"limen: denied" in status


def test_paths_fold_lexically() -> None:
    assert normalise("/srv/data/../../etc/passwd") == "/etc/passwd"
    assert normalise("//srv//a/./b/") == "/srv/a/b"
    assert normalise("") == "."
    assert normalise("docs/../x") == "x"


def test_scp_command_lines() -> None:
    assert scp_operation(["scp", "-t", "--", "/drop/a"]) == ("write", ["/drop/a"])
    assert scp_operation(["scp", "-f", "/srv/a", "/srv/b"]) == ("read", ["/srv/a", "/srv/b"])
    assert scp_operation(["scp", "-r", "-t", "/drop/d/"]) == ("write", ["/drop/d/*"])
    assert scp_operation(["ls", "-t"]) is None
    for bad in (["scp", "-t"], ["scp", "-x", "-t", "/a"], ["scp", "/a"], ["scp", "-tf", "/a"]):
        with pytest.raises(Unjudgeable):
            scp_operation(bad)
    assert is_scp(Request("exec", "scp -t /drop/a"))
    assert not is_scp(Request("exec", "echo scp -t"))


CONFIG = """
[listeners]
ssh = "127.0.0.1:0"

[identity.dev]
enabled = true

[[resources]]
name = "box"
protocol = "ssh"
upstream = "127.0.0.1:22"
user = "deploy"
private_key_file = "key"
host_key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"

[[rules]]
name = "files"
groups = ["files"]
resources = ["box"]
allow_commands = ["@sftp read /srv/*", "@sftp write /drop/*", "@sftp list *", "echo *"]
hold_commands = ["@sftp remove /drop/*"]
deny_commands = ["@sftp read /srv/secret*"]
approvers = ["ops"]

[[rules]]
name = "all-files"
groups = ["all"]
resources = ["box"]
allow_commands = ["@sftp"]
"""


@pytest.fixture
def policy(tmp_path: Path) -> Policy:
    return Policy(load_config_text(CONFIG, base_dir=tmp_path))


def ident(group: str) -> Identity:
    return Identity(
        subject="bot", issuer="t", groups=(group,), expires_at=None, token_id=None, method="x"
    )


@pytest.mark.parametrize(
    ("group", "op", "paths", "action"),
    [
        ("files", "read", ["/srv/report.txt"], "allow"),
        ("files", "read", ["/srv/secret.txt"], "deny"),
        ("files", "read", ["/etc/passwd"], "deny"),
        ("files", "write", ["/drop/a"], "allow"),
        ("files", "write", ["/srv/a"], "deny"),
        ("files", "remove", ["/drop/a"], "hold"),
        ("files", "rename", ["/drop/a", "/drop/b"], "deny"),
        ("files", "list", ["/anything"], "allow"),
        ("all", "remove", ["/etc/passwd"], "allow"),
        ("all", "rename", ["/a", "/b"], "allow"),
        ("ci", "read", ["/srv/report.txt"], "deny"),
    ],
)
def test_file_operations_are_judged_by_their_patterns(
    policy: Policy, group: str, op: str, paths: list[str], action: str
) -> None:
    assert decide_file(policy, ident(group), "box", op, paths).action == action


def test_the_sftp_subsystem_opens_for_a_rule_with_file_patterns(policy: Policy) -> None:
    opening = Request("subsystem", "sftp")
    assert decide_ssh(policy, ident("files"), "box", opening).action == "allow"
    assert decide_ssh(policy, ident("all"), "box", opening).action == "allow"
    assert decide_ssh(policy, ident("ci"), "box", opening).action == "deny"


def test_scp_lines_are_judged_as_the_transfer(policy: Policy) -> None:
    def act(line: str) -> str:
        return decide_ssh(policy, ident("files"), "box", Request("exec", line)).action

    assert act("scp -f /srv/report.txt") == "allow"
    assert act("scp -f /srv/secret.txt") == "deny"
    assert act("scp -t /drop/new") == "allow"
    assert act("scp -t /srv/new") == "deny"
    assert act("scp -f /srv/../etc/passwd") == "deny"
    assert act("scp -f /srv/report.txt; echo hi") == "deny"
    assert act("scp -r -f /srv") == "allow"
    assert act("scp -r -t /drop") == "allow"
