"""Helpers shared by the subcommands that take ``--config FILE``."""

from __future__ import annotations

import argparse
import getpass
import sys
from pathlib import Path

from limen.cli import CheckFailed, UsageError
from limen.config import Config, ConfigError, load_config
from limen.store import Store, StoreError, open_store

__all__ = ["add_config_argument", "load_config_arg", "open_state_store", "read_secret_input"]


def add_config_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config",
        required=True,
        metavar="FILE",
        help="the limen configuration (TOML, or YAML for .yaml/.yml files)",
    )


def load_config_arg(args: argparse.Namespace) -> Config:
    """The config named by ``--config``; a bad one is a usage error (exit 2)."""
    try:
        return load_config(args.config)
    except ConfigError as exc:
        raise UsageError(str(exc)) from None


def open_state_store(args: argparse.Namespace) -> tuple[Config, Store]:
    """The config named by ``--config`` and its state store; a store that
    cannot be opened is a failed operation (exit 1)."""
    config = load_config_arg(args)
    try:
        return config, open_store(config.gateway.state, Path(config.base_dir))
    except StoreError as exc:
        raise CheckFailed(str(exc)) from None


def read_secret_input(prompt: str, limit: int) -> str:
    """One secret from stdin: without echo on a terminal, else the whole
    input with its line ending removed. Never printed back."""
    if sys.stdin.isatty():
        value = getpass.getpass(prompt, stream=sys.stderr)
    else:
        value = sys.stdin.read(limit + 1)
        if len(value) > limit:
            raise UsageError(f"the input is longer than {limit} characters")
        value = value.removesuffix("\n").removesuffix("\r")
    if not value:
        raise UsageError("nothing on stdin")
    return value
