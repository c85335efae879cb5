"""The stand-in API server's object operations (part of the stand-in of
tests/kube_standin.py): merge patch (RFC 7386) and a simplified strategic
merge, JSON patch (RFC 6902: add, remove, replace, test), and the
``Table`` kubectl asks for."""

from __future__ import annotations

import copy
from typing import Any


def merge(target: Any, patch: Any, strategic: bool) -> Any:
    """RFC 7386 merge; ``strategic``: lists of named objects merge by name."""
    if not isinstance(patch, dict):
        if (
            strategic
            and isinstance(patch, list)
            and isinstance(target, list)
            and all(isinstance(x, dict) and "name" in x for x in patch + target)
        ):
            out = [copy.deepcopy(x) for x in target]
            for item in patch:
                for i, old in enumerate(out):
                    if old["name"] == item["name"]:
                        out[i] = merge(old, item, strategic)
                        break
                else:
                    out.append(copy.deepcopy(item))
            return out
        return copy.deepcopy(patch)
    out = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if key == "$patch":
            continue
        if value is None:
            out.pop(key, None)
        else:
            out[key] = merge(out.get(key), value, strategic)
    return out


def _pointer(path: str) -> list[str]:
    if path == "":
        return []
    return [p.replace("~1", "/").replace("~0", "~") for p in path.lstrip("/").split("/")]


def json_patch(doc: Any, ops: list[dict[str, Any]]) -> Any:
    """RFC 6902: add, remove, replace, test (enough for the tests)."""
    doc = copy.deepcopy(doc)
    for op in ops:
        parts = _pointer(op["path"])
        parent = doc
        for p in parts[:-1]:
            parent = parent[int(p)] if isinstance(parent, list) else parent[p]
        last = parts[-1]
        kind = op["op"]
        if kind == "test":
            here = parent[int(last)] if isinstance(parent, list) else parent[last]
            if here != op["value"]:
                raise ValueError("test failed")
        elif isinstance(parent, list):
            at = len(parent) if last == "-" else int(last)
            if kind == "add":
                parent.insert(at, op["value"])
            elif kind == "remove":
                del parent[at]
            elif kind == "replace":
                parent[at] = op["value"]
        elif kind in ("add", "replace"):
            parent[last] = op["value"]
        elif kind == "remove":
            del parent[last]
        else:
            raise ValueError(f"unsupported op {kind}")
    return doc


def table(items: list[dict[str, Any]], list_meta: dict[str, Any]) -> dict[str, Any]:
    rows = []
    for obj in items:
        meta = obj["metadata"]
        rows.append(
            {
                "cells": [meta["name"], obj.get("status", {}).get("phase", "Running"), "0s"],
                "object": {
                    "kind": "PartialObjectMetadata",
                    "apiVersion": "meta.k8s.io/v1",
                    "metadata": meta,
                },
            }
        )
    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": list_meta,
        "columnDefinitions": [
            {"name": "Name", "type": "string", "format": "name", "description": "name"},
            {"name": "Status", "type": "string", "format": "", "description": "phase"},
            {"name": "Age", "type": "string", "format": "", "description": "age"},
        ],
        "rows": rows,
    }
