"""Shell command lines as limen writes them down: secrets masked.

An SSH ``exec`` command line (and what approvers see of a held one) is
shell code, not SQL, so :class:`ShellInputMasker` splits it into shell
words (quotes, backslashes, operators; never failing) and masks a word, or
the part of it that holds the value, by where it stands, whatever the value:

- the value of an assignment to a secret-named variable (``TOKEN=…``,
  ``export DB_PASSWORD=…``, ``env API_KEY=… cmd``);
- the value of a secret-named option: ``--password=…``, ``--token …``,
  ``--api-key=…``, ``--secret …``, ``--client-secret=…``;
- a password glued to ``-p`` of the MySQL/MariaDB tools (``mysql -pS3cr3t``)
  and after ``-p`` of ``sshpass``;
- an HTTP header given to ``curl``/``wget``/``http`` whose name says it
  carries a credential (``-H 'Authorization: Bearer …'``, ``X-Api-Key``,
  ``Cookie``, ``*-Token``), and ``curl -u user:password``'s password;
- the password in a URL's user info (``https://user:pw@host``,
  ``postgresql://u:pw@h/db``) anywhere in a word.

An unterminated quote masks everything from the quote to the end (fail
closed). Then the session's content detectors run, as for statements. The
result is :class:`~limen.inmask.Masked` with the detector ``shell-secret``
(``shell-unparsed`` for an unterminated quote). Passwords typed at an
interactive prompt are not command lines: only the content detectors see
them (docs/ssh.md).
"""

from __future__ import annotations

import re
from typing import Final, NamedTuple

from limen.inmask import InputMasker

__all__ = ["SHELL_SECRET", "ShellInputMasker", "shell_secret_spans"]

SHELL_SECRET: Final = "shell-secret"  # noqa: S105 (a detector name)
SHELL_UNPARSED: Final = "shell-unparsed"

#: A variable or option name whose value is secret (matched on its parts).
_SECRET_PART: Final = re.compile(
    r"(?:pass|pwd|secret|token|cred|private|authenti|authoriz|session).*|.*keys?|auth"
)
_PARTS: Final = re.compile(r"[^a-z0-9]+")
_ASSIGNMENT: Final = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)=")
_URL_USERINFO: Final = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^/@:\s]*:([^/@\s]+)@")
_MYSQL_TOOLS: Final = frozenset(
    {"mysql", "mariadb", "mysqldump", "mariadb-dump", "mysqladmin", "mariadb-admin", "mysqlimport"}
)
_HTTP_TOOLS: Final = frozenset({"curl", "wget", "http", "https", "xh"})
_HEADER_OPTIONS: Final = frozenset({"-H", "--header"})
_SECRET_HEADER: Final = re.compile(r"authorization|cookie|api[-_]?key|token|secret|session", re.I)


class Word(NamedTuple):
    start: int
    end: int
    value: str
    """The word as the shell reads it (quotes removed)."""
    offsets: tuple[int, ...]
    """For each character of ``value``, where it stands in the text."""


def _secret_name(name: str) -> bool:
    return any(_SECRET_PART.fullmatch(p) for p in _PARTS.split(name.lower()) if p)


def split_words(line: str) -> tuple[list[list[Word]], int | None]:
    """Commands as words with their places; the index of an unterminated
    quote (None: all closed). Never raises."""
    commands: list[list[Word]] = [[]]
    chars: list[str] = []
    offsets: list[int] = []
    start = -1
    i, n = 0, len(line)

    def end_word(end: int) -> None:
        nonlocal chars, offsets, start
        if start >= 0:
            commands[-1].append(Word(start, end, "".join(chars), tuple(offsets)))
        chars, offsets, start = [], [], -1

    while i < n:
        c = line[i]
        if c in " \t":
            end_word(i)
        elif c in "\n;&|()<>`":
            end_word(i)
            if commands[-1]:
                commands.append([])
        else:
            if start < 0:
                start = i
            if c == "\\" and i + 1 < n:
                chars.append(line[i + 1])
                offsets.append(i + 1)
                i += 1
            elif c == "'":
                close = line.find(c, i + 1)
                if close < 0:
                    return [w for w in commands if w], i
                chars.extend(line[i + 1 : close])
                offsets.extend(range(i + 1, close))
                i = close
            elif c == '"':
                j = i + 1
                while j < n and line[j] != '"':
                    if line[j] == "\\" and j + 1 < n and line[j + 1] in '$`"\\\n':
                        j += 1
                    chars.append(line[j])
                    offsets.append(j)
                    j += 1
                if j >= n:
                    return [w for w in commands if w], i
                i = j
            else:
                chars.append(c)
                offsets.append(i)
        i += 1
    end_word(n)
    return [w for w in commands if w], None


def _tail(word: Word, at: int) -> tuple[int, int]:
    """The span of ``word``'s value from character ``at`` on (empty when
    nothing follows ``at``; empty spans are dropped)."""
    if at >= len(word.value):
        return word.end, word.end
    return word.offsets[at], word.offsets[-1] + 1


def _sshpass(words: list[Word]) -> list[tuple[int, int]]:
    """sshpass's own options (before the command it runs): ``-p PASSWORD``
    or ``-pPASSWORD``."""
    spans: list[tuple[int, int]] = []
    k = 0
    while k < len(words) and words[k].value.startswith("-"):
        value = words[k].value
        if value == "-p" and k + 1 < len(words):
            spans.append((words[k + 1].start, words[k + 1].end))
            k += 1
        elif value.startswith("-p"):
            spans.append(_tail(words[k], 2))
        elif value in ("-f", "-d", "-P") and k + 1 < len(words):
            k += 1  # options with a (non-secret) value
        k += 1
    return spans


def _command_spans(words: list[Word]) -> list[tuple[int, int]]:
    spans: list[tuple[int, int]] = []
    seen: set[str] = set()
    """Names of the programs before this word (``sudo mysql -p…``)."""
    for k, w in enumerate(words):
        value = w.value
        nxt = words[k + 1] if k + 1 < len(words) else None
        m = _ASSIGNMENT.match(value)
        if m and _secret_name(m.group(1)):
            spans.append(_tail(w, m.end()))
        mysql, http = bool(seen & _MYSQL_TOOLS), bool(seen & _HTTP_TOOLS)
        if value.rsplit("/", 1)[-1] == "sshpass":
            spans += _sshpass(words[k + 1 :])
        if not value.startswith("-") and not m:
            seen.add(value.rsplit("/", 1)[-1])
        if value.startswith("-") and not value.startswith("---"):
            name, eq, _rest = value.lstrip("-").partition("=")
            if _secret_name(name) and len(name) > 1 and not name.startswith("no-"):
                if eq:
                    spans.append(_tail(w, value.index("=") + 1))
                elif nxt is not None and value.startswith("--"):
                    spans.append((nxt.start, nxt.end))
            if mysql and value.startswith("-p") and len(value) > 2:
                spans.append(_tail(w, 2))
            if http and eq and value.split("=", 1)[0] in _HEADER_OPTIONS:
                at = value.index("=") + 1  # --header='Name: value'
                header, colon, _v = value[at:].partition(":")
                if colon and _SECRET_HEADER.search(header):
                    spans.append(_tail(w, at + len(header) + 1))
            if http and nxt is not None:
                header, colon, _v = nxt.value.partition(":")
                if value in _HEADER_OPTIONS and colon and _SECRET_HEADER.search(header):
                    spans.append(_tail(nxt, len(header) + 1))
                if value in ("-u", "--user") and ":" in nxt.value:
                    spans.append(_tail(nxt, nxt.value.index(":") + 1))
        for url in _URL_USERINFO.finditer(value):
            spans.append((w.offsets[url.start(1)], w.offsets[url.end(1) - 1] + 1))
    return [s for s in spans if s[0] < s[1]]


def shell_secret_spans(line: str) -> tuple[list[tuple[int, int]], str | None]:
    """Where the secrets of a command line stand (character offsets) and
    the detector (None: none found)."""
    commands, open_quote = split_words(line)
    spans = [s for words in commands for s in _command_spans(words)]
    if open_quote is not None:
        spans.append((open_quote, len(line)))
    merged: list[tuple[int, int]] = []
    for a, b in sorted(set(spans)):
        if merged and a <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], b))
        else:
            merged.append((a, b))
    if open_quote is not None:
        return merged, SHELL_UNPARSED
    return merged, (SHELL_SECRET if merged else None)


class ShellInputMasker(InputMasker):
    """Masks shell command lines (see the module docs), then the content
    detectors, as :class:`InputMasker` does statements."""

    __slots__ = ()

    def _structure(
        self, sql: bytes, detectors: dict[str, int], depth: int = 0
    ) -> tuple[bytes, bool]:
        text = sql.decode("utf-8", "surrogateescape")
        spans, name = shell_secret_spans(text)
        if not spans or name is None:
            return sql, False
        marker = f"[MASKED:{name}]"
        parts: list[str] = []
        pos = 0
        for start, end in spans:
            parts += [text[pos:start], marker]
            pos = end
        parts.append(text[pos:])
        detectors[name] = detectors.get(name, 0) + len(spans)
        return "".join(parts).encode("utf-8", "surrogateescape"), True
