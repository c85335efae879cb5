"""The config's small value types, parsed at decode time so a bad one fails
with its JSON path: :class:`Duration` (``"15m"``), :class:`ByteSize`
(``"16MiB"``), :class:`Address` (``"127.0.0.1:6432"``); loopback hosts; and
32-byte keys written as base64 or hex."""

from __future__ import annotations

import base64
import binascii
import ipaddress
import re
from typing import Final

# ASCII digits only: int() and \d would take fullwidth or Arabic-Indic digits too.
_DURATION_RE: Final = re.compile(r"([0-9]+(?:\.[0-9]+)?)(ms|s|m|h|d)")
_DURATION_UNITS: Final = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


class Duration:
    """A length of time written like ``"15m"``, ``"30s"``, ``"1h30m"``, ``"250ms"``."""

    __slots__ = ("seconds", "text")
    seconds: float
    text: str

    def __init__(self, seconds: float, text: str | None = None) -> None:
        if seconds < 0:
            raise ValueError("a duration cannot be negative")
        object.__setattr__(self, "seconds", float(seconds))
        object.__setattr__(self, "text", text if text is not None else _format_duration(seconds))

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("a Duration is immutable")

    @classmethod
    def parse(cls, text: str) -> Duration:
        """Parse ``"15m"`` style text; raise ValueError saying what is wrong."""
        stripped = text.strip()
        pos = 0
        total = 0.0
        for match in _DURATION_RE.finditer(stripped):
            if match.start() != pos:
                break
            total += float(match.group(1)) * _DURATION_UNITS[match.group(2)]
            pos = match.end()
        if not stripped or pos != len(stripped):
            raise ValueError(
                f"invalid duration {text!r}: write a number and a unit "
                "(ms, s, m, h, d), e.g. '30s', '15m', '1h30m'"
            )
        return cls(total, stripped)

    def __repr__(self) -> str:
        return f"Duration({self.text!r})"

    def __str__(self) -> str:
        return self.text

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Duration) and other.seconds == self.seconds

    def __hash__(self) -> int:
        return hash(self.seconds)


def _format_duration(seconds: float) -> str:
    if seconds == int(seconds):
        whole = int(seconds)
        for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
            if whole and whole % size == 0:
                return f"{whole // size}{unit}"
        return f"{whole}s"
    return f"{round(seconds * 1000)}ms"


_SIZE_RE: Final = re.compile(r"([0-9]+) *(B|KB|KiB|MB|MiB|GB|GiB)?", re.IGNORECASE)
_SIZE_UNITS: Final = {
    "b": 1,
    "kb": 1000,
    "kib": 1024,
    "mb": 1000**2,
    "mib": 1024**2,
    "gb": 1000**3,
    "gib": 1024**3,
}


class ByteSize(int):
    """A number of bytes: an integer, or text like ``"16MiB"`` / ``"64KiB"``."""

    @classmethod
    def parse(cls, value: object) -> ByteSize:
        if isinstance(value, bool):
            raise TypeError("expected a size (e.g. 16777216 or '16MiB'), got a boolean")
        if isinstance(value, int):
            if value < 0:
                raise ValueError("a size cannot be negative")
            return cls(value)
        if isinstance(value, str):
            match = _SIZE_RE.fullmatch(value.strip())
            if match is None:
                raise ValueError(
                    f"invalid size {value!r}: write bytes or a unit "
                    "(B, KiB, MiB, GiB, KB, MB, GB), e.g. '16MiB'"
                )
            unit = (match.group(2) or "b").lower()
            return cls(int(match.group(1)) * _SIZE_UNITS[unit])
        raise TypeError(f"expected a size (e.g. '16MiB'), got {type(value).__name__}")


def is_loopback_host(host: str) -> bool:
    """True for ``localhost``, 127.0.0.0/8 and ::1 (the only hosts plain HTTP
    and plaintext listeners are trusted on)."""
    name = host.strip("[]").lower()
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


class Address:
    """A ``host:port`` pair: ``127.0.0.1:6432``, ``[::1]:6432``, ``db.internal:5432``."""

    __slots__ = ("host", "port")
    host: str
    port: int

    def __init__(self, host: str, port: int) -> None:
        object.__setattr__(self, "host", host)
        object.__setattr__(self, "port", port)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("an Address is immutable")

    @classmethod
    def parse(cls, text: str) -> Address:
        raw = text.strip()
        if raw.startswith("["):
            host, sep, rest = raw[1:].partition("]")
            if not sep or not rest.startswith(":"):
                raise ValueError(f"invalid address {text!r}: write '[::1]:PORT' for IPv6")
            port_text = rest[1:]
            try:
                ipaddress.IPv6Address(host)
            except ValueError:
                raise ValueError(f"invalid address {text!r}: {host!r} is not IPv6") from None
        else:
            host, sep, port_text = raw.rpartition(":")
            if not sep or not host:
                raise ValueError(f"invalid address {text!r}: write HOST:PORT, e.g. 127.0.0.1:6432")
            if ":" in host:
                raise ValueError(f"invalid address {text!r}: put IPv6 hosts in brackets")
            if not re.fullmatch(r"[A-Za-z0-9.\-_]+", host):
                raise ValueError(f"invalid address {text!r}: bad host name {host!r}")
        if not (port_text.isascii() and port_text.isdigit()) or not 0 <= int(port_text) <= 65535:
            raise ValueError(f"invalid address {text!r}: the port must be 0-65535")
        return cls(host, int(port_text))

    @property
    def is_loopback(self) -> bool:
        return is_loopback_host(self.host)

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"

    def __repr__(self) -> str:
        return f"Address({str(self)!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Address) and (other.host, other.port) == (self.host, self.port)

    def __hash__(self) -> int:
        return hash((self.host, self.port))


def decode_key32(text: str) -> bytes | None:
    raw = text.strip()
    if re.fullmatch(r"[0-9a-fA-F]{64}", raw):
        return bytes.fromhex(raw)
    # 32 bytes are 43 base64 characters and one "=": standard or URL-safe
    # alphabet, nothing else (a decoder that skips junk would take any text
    # holding a key somewhere inside).
    if not re.fullmatch(r"[A-Za-z0-9+/]{43}=?|[A-Za-z0-9\-_]{43}=?", raw):
        return None
    try:
        data = base64.b64decode(
            raw.rstrip("=") + "=",
            altchars=b"-_" if "-" in raw or "_" in raw else None,
            validate=True,
        )
    except (binascii.Error, ValueError):
        return None
    return data if len(data) == 32 else None
