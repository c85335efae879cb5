"""Shell words of an SSH ``exec`` command line, conservatively.

The upstream runs an ``exec`` request through the user's login shell, so a
command line is shell code. :func:`split_command` reads it the way a POSIX
shell would for the simple cases and refuses everything it cannot judge:

- quotes (``'…'``, ``"…"``) and backslash escapes make one word;
- ``;``, ``&&``, ``||``, ``|``, ``&`` and newlines separate commands: the
  result lists every command, and each is judged on its own;
- ``$`` outside single quotes (``$(…)``, ``${…}``, ``$VAR``), backticks,
  redirections (``<``, ``>``), subshells, groups and brace expansions (unquoted ``(``, ``)``,
  ``{``, ``}``), process substitution, an unquoted ``#`` (a comment that
  would hide the rest of the line from limen's reading), leading variable
  assignments (``LD_PRELOAD=… cmd``), ``!``, an unquoted glob in a command
  name, and unterminated quotes raise
  :class:`Unjudgeable`: limen cannot tell what would run, so it is refused.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Sequence
from typing import Final

__all__ = ["MAX_COMMAND", "Unjudgeable", "matches", "split_command"]

MAX_COMMAND: Final = 64 * 1024
"""Longer command lines are refused."""

_ASSIGNMENT: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]*=")
_REFUSED: Final = {
    "$": "a substitution or variable ($)",
    "`": "a command substitution (backticks)",
    "<": "a redirection (<)",
    ">": "a redirection (>)",
    "(": "a subshell or group",
    ")": "a subshell or group",
    "#": "a comment (#)",
    "!": "history expansion or negation (!)",
    "{": "a group or brace expansion ({)",
    "}": "a group or brace expansion (})",
}


class Unjudgeable(ValueError):
    """A command line limen cannot read safely (the message says why)."""


def split_command(line: str) -> list[list[str]]:
    """The commands of ``line``, each as its shell words (see the module
    docs); raises :class:`Unjudgeable`."""
    if len(line) > MAX_COMMAND:
        raise Unjudgeable(f"the command line is longer than {MAX_COMMAND} characters")
    if "\x00" in line:
        raise Unjudgeable("the command line contains a NUL byte")
    commands: list[list[str]] = []
    words: list[str] = []
    word: list[str] = []
    in_word = False
    i, n = 0, len(line)

    def end_word() -> None:
        nonlocal word, in_word
        if in_word:
            words.append("".join(word))
        word, in_word = [], False

    def end_command() -> None:
        nonlocal words
        end_word()
        if words:
            commands.append(words)
        words = []

    while i < n:
        c = line[i]
        if c in " \t":
            end_word()
        elif c in "\n;&|":
            end_command()
            if c in "&|" and i + 1 < n and line[i + 1] == c:
                i += 1
        elif c == "\\":
            if i + 1 >= n:
                raise Unjudgeable("the command line ends with a backslash")
            if line[i + 1] != "\n":  # a backslash-newline joins lines
                word.append(line[i + 1])
                in_word = True
            i += 1
        elif c == "'":
            close = line.find("'", i + 1)
            if close < 0:
                raise Unjudgeable("an unterminated single quote")
            word.append(line[i + 1 : close])
            in_word = True
            i = close
        elif c == '"':
            i = _double_quoted(line, i + 1, word)
            in_word = True
        elif c in _REFUSED:
            raise Unjudgeable(f"the command line contains {_REFUSED[c]}")
        elif c in "*?[" and not words:
            raise Unjudgeable("the command name contains a glob pattern")
        else:
            word.append(c)
            in_word = True
        i += 1
    end_command()
    for command in commands:
        if _ASSIGNMENT.match(command[0]):
            raise Unjudgeable("the command line sets a variable before its command")
    if not commands:
        raise Unjudgeable("the command line is empty")
    return commands


def _double_quoted(line: str, i: int, word: list[str]) -> int:
    """Reads a double-quoted string from ``i`` (after the quote) into
    ``word``; returns the index of the closing quote."""
    n = len(line)
    while i < n:
        c = line[i]
        if c == '"':
            return i
        if c in "$`":
            raise Unjudgeable(f"the command line contains {_REFUSED[c]}")
        if c == "\\" and i + 1 < n and line[i + 1] in '$`"\\\n':
            if line[i + 1] != "\n":
                word.append(line[i + 1])
            i += 2
            continue
        word.append(c)
        i += 1
    raise Unjudgeable("an unterminated double quote")


def pattern_words(pattern: str) -> list[str]:
    """A pattern's words (patterns are plain words separated by spaces)."""
    return pattern.split()


def matches(pattern: str, words: Sequence[str]) -> bool:
    """Whether ``words`` (one command) match ``pattern`` (module docs)."""
    want = pattern_words(pattern)
    if want and want[-1] == "*":
        head = want[:-1]
        if len(words) < len(head):
            return False
        return all(fnmatch.fnmatchcase(w, p) for w, p in zip(words, head, strict=False))
    if len(words) != len(want):
        return False
    return all(fnmatch.fnmatchcase(w, p) for w, p in zip(words, want, strict=True))
