"""``limen mask``: stream stdin to stdout through the masker."""

from __future__ import annotations

import argparse
import sys

from limen.cli import CheckFailed, UsageError
from limen.jsonmask import JsonMasker, JsonMaskError, JsonPathError
from limen.mask import BUILTIN_DETECTORS, Masker, MaskRuleError, MaskStream, Rule

CHUNK = 64 * 1024


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "mask",
        help="stream stdin to stdout with secrets and personal data masked",
        description=(
            "Copy standard input to standard output, replacing each secret or "
            "personal value with [MASKED:<detector>]. Streams in constant memory: "
            "input of any size, in chunks of any size, gives the same output."
        ),
        epilog="built-in detectors: " + ", ".join(BUILTIN_DETECTORS),
    )
    p.add_argument(
        "--detector",
        "-d",
        action="append",
        metavar="NAME",
        help="use only this detector (repeatable; 'builtin' for all built-in ones; "
        "default: every built-in detector and every rule given)",
    )
    p.add_argument(
        "--rule",
        action="append",
        default=[],
        metavar="NAME=REGEX",
        help="add a user rule masking every match of REGEX (repeatable)",
    )
    p.add_argument(
        "--words",
        action="append",
        default=[],
        metavar="NAME=W1,W2,...",
        help="add a user rule masking these literal words (repeatable)",
    )
    p.add_argument(
        "--json",
        action="append",
        default=[],
        metavar="PATH",
        help="mask the value of each JSON member this path names, e.g. '$.password', "
        "'$..token' (repeatable; the input is then JSON or NDJSON, masked by key first, "
        "then by the detectors, as the HTTP gateway does)",
    )
    p.add_argument("--list", action="store_true", help="list the detectors and exit")
    p.add_argument(
        "--findings",
        action="store_true",
        help="print findings (detector, offset, length) to stderr as they are found",
    )
    p.set_defaults(func=run)


def _split(spec: str, flag: str) -> tuple[str, str]:
    name, sep, value = spec.partition("=")
    if not sep or not name or not value:
        raise UsageError(f"{flag} takes NAME=VALUE, got {spec!r}")
    return name, value


def build_masker(args: argparse.Namespace) -> Masker:
    rules: list[Rule] = []
    for spec in args.rule:
        name, regex = _split(spec, "--rule")
        rules.append(Rule(name=name, regex=regex))
    for spec in args.words:
        name, words = _split(spec, "--words")
        rules.append(Rule(name=name, words=[w for w in words.split(",") if w]))
    try:
        return Masker(detectors=args.detector, rules=rules)
    except MaskRuleError as exc:
        raise UsageError(str(exc)) from None


def run(args: argparse.Namespace) -> int:
    masker = build_masker(args)
    if args.list:
        for info in masker.detector_info():
            print(f"{info.name:28} {info.description}")
        return 0
    try:
        jstream = JsonMasker(args.json).stream() if args.json else None
    except JsonPathError as exc:
        raise UsageError(str(exc)) from None
    stream = masker.stream()
    src = sys.stdin.buffer
    read = getattr(src, "read1", src.read)  # read1: whatever is available
    dst = sys.stdout.buffer
    try:
        while chunk := read(CHUNK):
            dst.write(stream.feed(chunk if jstream is None else jstream.feed(chunk)))
            if args.findings:
                _report(stream)
        if jstream is not None:
            dst.write(stream.feed(jstream.finish()))
    except JsonMaskError as exc:
        dst.write(stream.finish())
        dst.flush()
        raise CheckFailed(str(exc)) from None
    dst.write(stream.finish())
    if args.findings:
        _report(stream)
    dst.flush()
    return 0


def _report(stream: MaskStream) -> None:
    for f in stream.take_findings():
        print(f"finding {f.detector} offset={f.offset} length={f.length}", file=sys.stderr)
