"""Loading a configuration: a file (TOML, or YAML for ``.yaml``/``.yml``),
text, or already-parsed data; every way ends in :func:`decode`."""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Literal

import yaml

from limen.config.decode import decode
from limen.config.errors import ConfigError, Issue
from limen.config.schema import Config


def load_config_data(
    data: object, *, base_dir: Path | None = None, source: str = "config"
) -> Config:
    """Decode and check already-parsed config data (e.g. an embedded default)."""
    base = (base_dir if base_dir is not None else Path.cwd()).resolve()
    return decode(data, source, base)


def load_config_text(
    text: str,
    *,
    format: Literal["toml", "yaml"] = "toml",
    base_dir: Path | None = None,
    source: str = "config",
) -> Config:
    """Decode and check config text; raise :class:`ConfigError` on any error."""
    base = (base_dir if base_dir is not None else Path.cwd()).resolve()
    data: object
    if format == "toml":
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError([Issue("$", f"not valid TOML: {exc}")], source) from None
    else:
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise ConfigError([Issue("$", f"not valid YAML: {exc}")], source) from None
        if data is None:
            data = {}
    return decode(data, source, base)


def load_config(path: str | os.PathLike[str]) -> Config:
    """Load a config file: ``.yaml``/``.yml`` as YAML, anything else as TOML."""
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(
            [Issue("$", f"cannot read {file}: {exc.strerror or type(exc).__name__}")], str(file)
        ) from None
    except UnicodeDecodeError:
        raise ConfigError([Issue("$", f"{file} is not UTF-8 text")], str(file)) from None
    fmt: Literal["toml", "yaml"] = "yaml" if file.suffix.lower() in (".yaml", ".yml") else "toml"
    return load_config_text(text, format=fmt, base_dir=file.resolve().parent, source=str(file))
