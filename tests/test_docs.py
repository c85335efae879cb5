"""docs/ is the repository's source of truth: docs/interface.md names every
``limen`` subcommand and flag the CLI has, every configuration key the
schema has, and no key the schema does not have; the docs' relative links
resolve."""

from __future__ import annotations

import argparse
import re
from collections.abc import Iterator
from pathlib import Path

import msgspec
import pytest

from limen.cli import build_parser
from limen.config import Config

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
INTERFACE = DOCS / "interface.md"


def _commands(
    parser: argparse.ArgumentParser, path: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], argparse.ArgumentParser]]:
    """Every leaf command of the CLI with its parser: (("sessions", "list"), p)."""
    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subs:
        yield path, parser
        return
    for name, child in subs[0].choices.items():
        yield from _commands(child, (*path, name))


COMMANDS = list(_commands(build_parser()))


def test_the_cli_has_commands() -> None:
    names = {" ".join(path) for path, _ in COMMANDS}
    assert {"serve", "sessions list", "approvals approve", "config check"} <= names


@pytest.mark.parametrize(("path", "parser"), COMMANDS, ids=[" ".join(p) for p, _ in COMMANDS])
def test_every_command_and_flag_is_documented(
    path: tuple[str, ...], parser: argparse.ArgumentParser
) -> None:
    text = INTERFACE.read_text()
    command = "limen " + " ".join(path)
    assert f"`{command}`" in text, f"docs/interface.md does not document `{command}`"
    # The command's own table row (or section) must name each of its flags.
    rows = [line for line in text.splitlines() if f"`{command}`" in line]
    flags = [
        opt
        for action in parser._actions
        for opt in action.option_strings
        if opt.startswith("--") and opt != "--help"
    ]
    for flag in flags:
        assert any(f"`{flag}" in row for row in rows), f"{command}: {flag} is not documented"


def _tables(struct: type[msgspec.Struct], path: str) -> Iterator[tuple[str, list[str]]]:
    """(table path, its keys) for the config schema, nested tables included."""
    info = msgspec.inspect.type_info(struct)
    assert isinstance(info, msgspec.inspect.StructType)
    keys = []
    for field in info.fields:
        if field.encode_name == "base_dir":  # set by the loader, not a key
            continue
        keys.append(field.encode_name)
        for tp in _structs_in(field.type):
            yield from _tables(tp, f"{path}.{field.encode_name}".lstrip("."))
    yield path, keys


def _structs_in(tp: msgspec.inspect.Type) -> Iterator[type[msgspec.Struct]]:
    if isinstance(tp, msgspec.inspect.StructType):
        yield tp.cls
    elif isinstance(tp, msgspec.inspect.UnionType):
        for t in tp.types:
            yield from _structs_in(t)
    elif isinstance(tp, msgspec.inspect.ListType):
        yield from _structs_in(tp.item_type)


TABLES = dict(_tables(Config, ""))


def _config_sections() -> dict[str, str]:
    """The ``### ...`` sections of the Configuration chapter, by heading."""
    text = INTERFACE.read_text()
    chapter = text.split("\n## Configuration", 1)[1].split("\n## ", 1)[0]
    parts = re.split(r"^### (.*)$", chapter, flags=re.MULTILINE)
    return {parts[i]: parts[i + 1] for i in range(1, len(parts), 2)}


def _section_for(table: str, sections: dict[str, str]) -> str:
    """The section documenting ``table`` (``resources.tls``: its nearest
    ancestor with a heading, ``[[resources]]``)."""
    parts = table.split(".")
    while parts:
        name = ".".join(parts)
        for heading, body in sections.items():
            if f"`[{name}]`" in heading or f"`[[{name}]]`" in heading:
                return body
        parts.pop()
    raise AssertionError(f"docs/interface.md has no section for [{table}]")


@pytest.mark.parametrize("table", [t for t in TABLES if t], ids=str)
def test_every_config_key_is_documented(table: str) -> None:
    body = _section_for(table, _config_sections())
    for key in TABLES[table]:
        assert re.search(rf"`[^`\n]*\b{re.escape(key)}\b[^`\n]*`", body), (
            f"[{table}] {key} is not documented in docs/interface.md"
        )


def test_no_documented_key_is_unknown() -> None:
    """Each key a reference table's first column names exists in the schema."""
    known = {key for keys in TABLES.values() for key in keys}
    for heading, body in _config_sections().items():
        for line in body.splitlines():
            cells = line.split("|")
            if len(cells) < 3 or not cells[1].strip().startswith("`"):
                continue
            for name in re.findall(r"`([^`]+)`", cells[1]):
                key = name.replace("[]", "").rsplit(".", 1)[-1]
                assert key in known, f"{heading}: `{name}` is not a configuration key"


@pytest.mark.parametrize("doc", sorted(DOCS.glob("*.md")), ids=lambda p: p.name)
def test_relative_links_resolve(doc: Path) -> None:
    for target in re.findall(r"\]\(([^)#:\s]+)(?:#[^)]*)?\)", doc.read_text()):
        assert (doc.parent / target).exists(), f"{doc.name}: broken link {target}"
