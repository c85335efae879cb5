"""SSH command lines as limen records them (limen.inmask_shell): a value in
a secret position is masked whatever it is and however it is quoted; the
rest of the line stays readable; an unterminated quote masks to the end."""

from __future__ import annotations

import shlex

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from limen.inmask_shell import ShellInputMasker, shell_secret_spans, split_words

M = ShellInputMasker()


@pytest.mark.parametrize(
    ("line", "secret"),
    [
        ("mysql -h db -u app -pmy-db-pw-1 shop", "my-db-pw-1"),
        ("sudo -u svc mariadb-dump -p'quoted pw 2' shop", "quoted pw 2"),
        ("sshpass -p 'ssh pw 3' ssh -p 22 host uptime", "ssh pw 3"),
        ("DB_PASSWORD=pw4 ./migrate.sh", "pw4"),
        ("export GITHUB_TOKEN=tok5; make release", "tok5"),
        ('env AWS_SECRET_ACCESS_KEY="sk 6" aws s3 ls', "sk 6"),
        ("deploy --api-key=key7 --env prod", "key7"),
        ("vault login --token tok8", "tok8"),
        ("tool --client-secret 'cs 9'", "cs 9"),
        ("curl -sS -H 'Authorization: Bearer bearer10' https://api/x", "bearer10"),
        ('curl --header "X-Api-Key: apikey11" https://api/x', "apikey11"),
        ("wget --header='Cookie: session=cookie12' https://x", "cookie12"),
        ("curl -u deploy:userpw13 https://x", "userpw13"),
        ("git clone https://bot:gitpw14@git.example/repo.git", "gitpw14"),
        ("psql 'postgresql://app:pgpw15@db:5432/app' -c 'select 1'", "pgpw15"),
        ("echo ok && mysql -pchained16", "chained16"),
        ('echo "unterminated secret17', "secret17"),
        ("mysql -pesc\\ aped18", "aped18"),
    ],
)
def test_secrets_are_masked(line: str, secret: str) -> None:
    masked = M.mask(line.encode())
    assert secret.encode() not in masked.text
    assert set(masked.detectors) & {"shell-secret", "shell-unparsed"}


@pytest.mark.parametrize(
    "line",
    [
        "git status",
        "ssh -p 2222 host uptime",
        "ls -la /var/log | grep -v debug",
        "psql --no-password -c 'select 1'",
        "echo keyboard monkey",
        "python3 -m pytest -p no:cacheprovider",
    ],
)
def test_plain_command_lines_are_unchanged(line: str) -> None:
    masked = M.mask(line.encode())
    assert masked.text == line.encode()
    assert not masked.detectors


def test_the_rest_stays_readable() -> None:
    m = M.mask(b"mysql -u root -pS3cret -e 'select 1' && TOKEN=x ./run")
    assert m.text == (
        b"mysql -u root -p[MASKED:shell-secret] -e 'select 1' && TOKEN=[MASKED:shell-secret] ./run"
    )
    assert m.detectors == {"shell-secret": 2}


def test_words_match_the_shell_s_reading() -> None:
    line = 'cmd \'a b\' "c\\"d" e\\ f g'
    (words,), open_quote = split_words(line)
    assert open_quote is None
    assert [w.value for w in words] == shlex.split(line)


_TEMPLATES = [
    "mysql -u app -p{v} shop",
    "DEPLOY_TOKEN={v} ./deploy.sh",
    "tool --password {v} run",
    "tool --secret={v}",
    "curl -H {h} https://x",
    "sshpass -p {v} ssh host true",
]


@settings(max_examples=300, deadline=None)
@given(
    template=st.sampled_from(_TEMPLATES),
    tail=st.text(alphabet=st.characters(blacklist_characters="\x00"), max_size=16),
)
def test_a_planted_value_in_a_secret_position_never_survives(template: str, tail: str) -> None:
    value = "PLANTED7q" + tail
    line = template.format(v=shlex.quote(value), h=shlex.quote("Authorization: Bearer " + value))
    masked = M.mask(line.encode("utf-8", "surrogatepass"))
    assert b"PLANTED7q" not in masked.text


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=80))
def test_any_line_is_masked_without_raising_and_spans_are_in_order(line: str) -> None:
    spans, _name = shell_secret_spans(line)
    last = -1
    for start, end in spans:
        assert last < start < end <= len(line)
        last = end
    M.mask(line.encode("utf-8", "surrogatepass"))
