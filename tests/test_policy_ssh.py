"""The SSH command policy: shell words, compound commands judged as every
part, what limen cannot read refused, and the rules' command patterns."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from limen.config import load_config_text
from limen.identity import Identity
from limen.policy import Policy
from limen.policy.ssh import Request, decide_ssh, matches, split_command
from limen.policy.ssh.words import Unjudgeable

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
name = "ci"
groups = ["ci"]
resources = ["box"]
allow_commands = ["git status", "git log *", "ls *", "echo *", "@shell"]
hold_commands = ["systemctl restart app-*"]
deny_commands = ["rm *", "git push *"]
approvers = ["ops"]
"""


@pytest.fixture
def policy(tmp_path: Path) -> Policy:
    return Policy(load_config_text(CONFIG, base_dir=tmp_path))


def ident(groups: tuple[str, ...] = ("ci",)) -> Identity:
    return Identity(
        subject="bot",
        issuer="test",
        groups=groups,
        expires_at=None,
        token_id=None,
        method="static_key",
    )


def exec_(policy: Policy, line: str) -> str:
    return decide_ssh(policy, ident(), "box", Request("exec", line)).action


@pytest.mark.parametrize(
    ("line", "words"),
    [
        ("git status", [["git", "status"]]),
        ("git  log  --oneline", [["git", "log", "--oneline"]]),
        ("echo 'a; b' \"c && d\"", [["echo", "a; b", "c && d"]]),
        ("echo a\\;b", [["echo", "a;b"]]),
        ("git status; ls -l", [["git", "status"], ["ls", "-l"]]),
        ("a && b || c | d & e\nf", [["a"], ["b"], ["c"], ["d"], ["e"], ["f"]]),
        ("echo '$(x)' 'x`y`'", [["echo", "$(x)", "x`y`"]]),
        ('echo "it\\"s"', [["echo", 'it"s']]),
        ("echo a\\\nb", [["echo", "ab"]]),
    ],
)
def test_words(line: str, words: list[list[str]]) -> None:
    assert split_command(line) == words


@pytest.mark.parametrize(
    "line",
    [
        "echo $(id)",
        "echo `id`",
        'echo "$(id)"',
        'echo "`id`"',
        "echo $HOME",
        "echo ${HOME}",
        "cat < /etc/shadow",
        "echo x > f",
        "echo x >> f",
        "(rm -rf ~)",
        "{ rm -rf ~; }",
        "echo {a,b}",
        "git status # ; rm",
        "LD_PRELOAD=x git status",
        "! git status",
        "/bin/r? -rf ~",
        "git status; r[m] x",
        "echo 'open",
        'echo "open',
        "echo trailing\\",
        "",
        " ; ",
        "a\x00b",
        "x" * 70000,
    ],
)
def test_unjudgeable(line: str) -> None:
    with pytest.raises(Unjudgeable):
        split_command(line)


def test_patterns() -> None:
    assert matches("git status", ["git", "status"])
    assert not matches("git status", ["git", "status", "--short"])
    assert matches("git log *", ["git", "log"])
    assert matches("git log *", ["git", "log", "-p", "x"])
    assert not matches("git log *", ["git"])
    assert matches("systemctl restart app-*", ["systemctl", "restart", "app-web"])
    assert not matches("systemctl restart app-*", ["systemctl", "restart", "db"])


def test_decisions(policy: Policy) -> None:
    assert exec_(policy, "git status") == "allow"
    assert exec_(policy, "git log --oneline | ls") == "allow"
    assert exec_(policy, "git status; rm -rf ~") == "deny"
    assert exec_(policy, "git status && id") == "deny"  # id: no rule covers it
    assert exec_(policy, "git push origin main") == "deny"
    assert exec_(policy, "systemctl restart app-web") == "hold"
    assert exec_(policy, "git status; systemctl restart app-web") == "hold"
    assert exec_(policy, "systemctl restart app-web; rm x") == "deny"
    assert exec_(policy, "echo $(rm -rf ~)") == "deny"
    shell = decide_ssh(policy, ident(), "box", Request("shell"))
    assert shell.action == "allow"
    sftp = decide_ssh(policy, ident(), "box", Request("subsystem", "sftp"))
    assert sftp.action == "deny"
    other = decide_ssh(policy, ident(("nobody",)), "box", Request("exec", "git status"))
    assert other.action == "deny"


def test_held_decision_names_the_pattern(policy: Policy) -> None:
    d = decide_ssh(policy, ident(), "box", Request("exec", "systemctl restart app-web"))
    assert d.klass == "ssh:systemctl restart app-*"
    assert d.approvers == ("ops",)
    assert d.rule == "ci"
    later = decide_ssh(
        policy, ident(), "box", Request("exec", "git status; systemctl restart app-x")
    )
    assert later.message == "held by rule ci: systemctl matches 'systemctl restart app-*'"


SAFE = st.text(alphabet="abcdefghij-./ ", min_size=1, max_size=20).filter(lambda s: s.strip())
SEPARATORS = st.sampled_from([";", "&&", "||", "|", "&", "\n", " ; ", " && "])


@settings(max_examples=300, deadline=None)
@given(first=SAFE, sep=SEPARATORS, tail=SAFE)
def test_a_denied_command_never_hides_behind_an_allowed_one(
    tmp_path_factory: pytest.TempPathFactory, first: str, sep: str, tail: str
) -> None:
    policy = Policy(load_config_text(CONFIG, base_dir=tmp_path_factory.mktemp("c")))
    for line in (f"git status{sep}rm {tail}", f"echo {first}{sep}rm -rf {tail}"):
        assert exec_(policy, line) == "deny"


@settings(max_examples=300, deadline=None)
@given(words=st.lists(st.text(min_size=1, max_size=12), min_size=1, max_size=6))
def test_quoted_words_round_trip(words: list[str]) -> None:
    """Words quoted the way Python's shlex quotes them read back as the
    same words (no NUL: refused)."""
    words = [w.replace("\x00", "") or "x" for w in words]
    assume(not re.match(r"[A-Za-z_][A-Za-z0-9_]*=", words[0]))  # refused: an assignment
    line = " ".join(shlex.quote(w) for w in words)
    assert split_command(line) == [words]


@settings(max_examples=500, deadline=None)
@given(line=st.text(max_size=200))
def test_any_text_is_words_or_refused(line: str) -> None:
    """Any text either reads as commands of non-empty words or is refused
    (never another exception)."""
    try:
        commands = split_command(line)
    except Unjudgeable:
        return
    assert commands
    assert all(command for command in commands)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (("host_key = ", "# host_key = "), "pins its upstream host key"),
        (('host_key = "ssh-ed25519 ', 'host_key = "ssh-ed25519 !'), "not a known_hosts line"),
        (('private_key_file = "key"', 'private_key_env = "1X"'), "not an environment variable"),
        (
            ('private_key_file = "key"', 'private_key_file = "k"\nprivate_key_env = "K"'),
            "choose one of private_key_file",
        ),
        (('private_key_file = "key"', ""), "needs private_key_file, private_key_env or"),
    ],
)
def test_config_checks_ssh_resources(tmp_path: Path, edit: tuple[str, str], message: str) -> None:
    with pytest.raises(Exception, match=message):
        load_config_text(CONFIG.replace(*edit), base_dir=tmp_path)
