"""Checks of ``[[rules]]`` (resources, who they match, classes, masks,
approvers, webhooks, groups nobody grants) and ``[[mask_rules]]`` (each must
compile)."""

from __future__ import annotations

import difflib
import re
from typing import Final

from limen.config.checks.common import Report, check_names, check_url
from limen.config.schema import MYSQL_DANGERS, Config, known_detectors
from limen.jsonmask import JsonPathError, parse_path

_MASK_COLUMN: Final = re.compile(r"column:[A-Za-z_][A-Za-z0-9_$]*(\.[A-Za-z_][A-Za-z0-9_$]*){1,2}")


def _granted_groups(config: Config) -> set[str] | None:
    """Groups some identity source can grant; None when any group is possible."""
    if config.identity.oidc is not None or config.identity.dev.enabled:
        return None
    return {g for key in config.identity.keys for g in key.groups}


def check_mask_rules(config: Config, err: Report) -> None:
    """Each user masking rule must compile on its own (the error names it)."""
    from limen.mask import Masker, MaskRuleError
    from limen.mask import Rule as MaskRule

    check_names([r.name for r in config.mask_rules], "$.mask_rules", err)
    for i, mr in enumerate(config.mask_rules):
        try:
            Masker(
                detectors=[mr.name],
                rules=[
                    MaskRule(
                        name=mr.name,
                        regex=mr.regex,
                        words=mr.words,
                        case_insensitive=mr.case_insensitive,
                    )
                ],
            )
        except MaskRuleError as exc:
            err(f"$.mask_rules[{i}]", str(exc))


def check_rules(config: Config, err: Report, warn: Report) -> None:
    resources = {r.name for r in config.resources}
    granted = _granted_groups(config)
    detectors = known_detectors() | {r.name for r in config.mask_rules}
    check_names([r.name for r in config.rules], "$.rules", err)
    for i, rule in enumerate(config.rules):
        path = f"$.rules[{i}]"
        if not rule.resources:
            err(f"{path}.resources", "name at least one resource")
        for j, res in enumerate(rule.resources):
            if res not in resources:
                close = difflib.get_close_matches(res, sorted(resources), n=1)
                hint = f"; did you mean {close[0]!r}?" if close else ""
                err(f"{path}.resources[{j}]", f"unknown resource {res!r}{hint}")
        if not rule.groups and not rule.subjects:
            err(path, "names neither groups nor subjects: it would match nobody")
        not_mysql = sorted(
            r.name for r in config.resources if r.name in rule.resources and r.protocol != "mysql"
        )
        for field in ("allow", "hold", "deny"):
            values: list[str] = getattr(rule, field)
            for j, cls in enumerate(values):
                if cls in MYSQL_DANGERS and not_mysql:
                    err(
                        f"{path}.{field}[{j}]",
                        f"{cls!r} is a MySQL danger, but the rule also names resource "
                        f"{not_mysql[0]!r}, which is not mysql: give MySQL dangers their own rule",
                    )
                if cls in values[:j]:
                    warn(f"{path}.{field}[{j}]", f"{cls!r} is listed twice")
        for field_a, field_b in (("allow", "deny"), ("allow", "hold"), ("hold", "deny")):
            both = sorted(set(getattr(rule, field_a)) & set(getattr(rule, field_b)))
            if both:
                winner = field_b
                warn(
                    f"{path}.{field_a}",
                    f"{', '.join(both)} also in {field_b}: {winner} takes precedence",
                )
        for j, item in enumerate(rule.mask):
            if item.startswith("json:"):
                try:
                    parse_path(item)
                except JsonPathError as exc:
                    err(f"{path}.mask[{j}]", str(exc))
                continue
            if item != "builtin" and item not in detectors and not _MASK_COLUMN.fullmatch(item):
                hint = ""
                if item.startswith("column:"):
                    hint = "; write column:TABLE.COLUMN"
                else:
                    close = difflib.get_close_matches(item, sorted(detectors), n=1)
                    hint = f"; did you mean {close[0]!r}?" if close else ""
                err(f"{path}.mask[{j}]", f"unknown mask {item!r}{hint}")
        if rule.hold and not rule.approvers:
            err(f"{path}.approvers", "the rule holds statements but names no approvers")
        if rule.record_raw_input and config.gateway.recording_recipient is None:
            err(
                f"{path}.record_raw_input",
                "raw statements need an encrypted log: set [gateway] recording_recipient",
            )
        if rule.approvals_required < 1:
            err(f"{path}.approvals_required", "must be at least 1")
        if rule.hold_timeout is not None and rule.hold_timeout.seconds <= 0:
            err(f"{path}.hold_timeout", "must be longer than zero")
        if rule.webhook is not None:
            check_url(f"{path}.webhook", rule.webhook, err, "the webhook")
        if granted is not None:
            for field in ("groups", "approvers"):
                for j, group in enumerate(getattr(rule, field)):
                    if group not in granted:
                        warn(
                            f"{path}.{field}[{j}]",
                            f"no identity source grants group {group!r}",
                        )
