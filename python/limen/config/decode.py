"""From parsed data to a checked :class:`Config`: msgspec decodes the shape
(value types through :func:`_dec_hook`), its first error becomes an
:class:`Issue` at the JSON path of the value with a hint (the known fields, the
closest one, the allowed choices), then :func:`check` judges the meaning."""

from __future__ import annotations

import difflib
import re
from pathlib import Path
from typing import Final

import msgspec

from limen.config.checks import check
from limen.config.errors import ConfigError, Issue
from limen.config.schema import Config
from limen.config.secrets import Secret
from limen.config.values import Address, ByteSize, Duration


def _dec_hook(tp: type, obj: object) -> object:
    if tp is Duration:
        if not isinstance(obj, str):
            raise TypeError(f"expected a duration such as '15m', got {type(obj).__name__}")
        return Duration.parse(obj)
    if tp is ByteSize:
        return ByteSize.parse(obj)
    if tp is Address:
        if not isinstance(obj, str):
            raise TypeError(f"expected an address 'HOST:PORT', got {type(obj).__name__}")
        return Address.parse(obj)
    if tp is Secret:
        if not isinstance(obj, str):
            raise TypeError(f"expected a string, got {type(obj).__name__}")
        return Secret(obj, "inline password")
    raise NotImplementedError(f"no decoder for {tp!r}")


_MSGSPEC_AT: Final = re.compile(r"^(?P<msg>.*) - at `(?P<path>\$[^`]*)`$", re.DOTALL)
_UNKNOWN_FIELD: Final = re.compile(r"^Object contains unknown field `(?P<field>[^`]*)`$")
_MISSING_FIELD: Final = re.compile(r"^Object missing required field `(?P<field>[^`]*)`$")


def _convert_validation_error(exc: msgspec.ValidationError) -> Issue:
    text = str(exc)
    match = _MSGSPEC_AT.match(text)
    msg, path = (match.group("msg"), match.group("path")) if match else (text, "$")
    if unknown := _UNKNOWN_FIELD.match(msg):
        field = unknown.group("field")
        known = _fields_at(path)
        hint = ""
        if known:
            close = difflib.get_close_matches(field, known, n=1)
            hint = (
                f"; did you mean {close[0]!r}?"
                if close
                else f"; known fields: {', '.join(sorted(known))}"
            )
        return Issue(_join(path, field), f"unknown field{hint}")
    if missing := _MISSING_FIELD.match(msg):
        return Issue(_join(path, missing.group("field")), "required field is missing")
    if msg.startswith("Invalid enum value"):
        choices = _choices_at(path)
        if choices:
            msg = f"{msg}; expected one of: {', '.join(choices)}"
    return Issue(path, msg[:1].lower() + msg[1:])


def _join(path: str, field: str) -> str:
    if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", field):
        return f"{path}.{field}"
    return f"{path}[{field!r}]"


_PATH_TOKEN: Final = re.compile(r"\.([A-Za-z_][A-Za-z0-9_\-]*)|\[(\d+)\]|\['([^']*)'\]")


def _type_at(path: str) -> msgspec.inspect.Type | None:
    """The schema type at a JSON path (best effort, for error hints)."""
    current: msgspec.inspect.Type = msgspec.inspect.type_info(Config)
    for match in _PATH_TOKEN.finditer(path.removeprefix("$")):
        current = _unwrap(current)
        name = match.group(1) or match.group(3)
        if name is not None and isinstance(current, msgspec.inspect.StructType):
            field = next((f for f in current.fields if f.encode_name == name), None)
            if field is None:
                return None
            current = field.type
        elif match.group(2) is not None and isinstance(current, msgspec.inspect.ListType):
            current = current.item_type
        else:
            return None
    return _unwrap(current)


def _unwrap(tp: msgspec.inspect.Type) -> msgspec.inspect.Type:
    if isinstance(tp, msgspec.inspect.UnionType):
        inner = [t for t in tp.types if not isinstance(t, msgspec.inspect.NoneType)]
        if len(inner) == 1:
            return inner[0]
    return tp


def _fields_at(path: str) -> list[str]:
    tp = _type_at(path)
    if isinstance(tp, msgspec.inspect.StructType):
        return [f.encode_name for f in tp.fields if f.encode_name != "base_dir"]
    return []


def _choices_at(path: str) -> list[str]:
    tp = _type_at(path)
    if isinstance(tp, msgspec.inspect.LiteralType):
        return [str(v) for v in tp.values]
    return []


def decode(data: object, source: str, base_dir: Path) -> Config:
    if not isinstance(data, dict):
        raise ConfigError([Issue("$", "the top level must be a table of sections")], source)
    if "base_dir" in data:
        raise ConfigError([Issue("$.base_dir", "unknown field")], source)
    try:
        config = msgspec.convert(
            {**data, "base_dir": str(base_dir)},
            type=Config,
            dec_hook=_dec_hook,
            strict=True,
        )
    except msgspec.ValidationError as exc:
        raise ConfigError([_convert_validation_error(exc)], source) from None
    errors = [issue for issue in check(config) if issue.severity == "error"]
    if errors:
        raise ConfigError(errors, source)
    return config
