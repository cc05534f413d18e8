"""Known counts a dataset must have, checked by ``verify`` (data layer)."""

from __future__ import annotations

import re
from pathlib import Path

from .manifest import Check

__all__ = ["count", "run_check"]

_PUBTATOR_TITLE = re.compile(r"^\d+\|t\|")


def count(path: Path, kind: str, pattern: str = "*") -> int:
    """Return the count of ``kind`` (files, lines, documents, rows) in ``path``."""
    if kind == "count_files":
        return sum(1 for p in path.glob(pattern) if p.is_file())
    if kind == "brat_documents":
        return sum(1 for p in path.glob("*.txt") if p.with_suffix(".ann").is_file())
    with open(path, encoding="utf-8", errors="replace") as handle:
        lines = handle.read().splitlines()
    if kind == "count_lines":
        return sum(1 for line in lines if line.strip())
    if kind == "pubtator_documents":
        return sum(1 for line in lines if _PUBTATOR_TITLE.match(line))
    if kind == "tsv_rows":
        return max(0, sum(1 for line in lines if line.strip()) - 1)  # minus the header
    raise ValueError(f"unknown check kind {kind!r}")


def run_check(root: Path, check: Check) -> tuple[bool, str]:
    """Return (passed, message) for one manifest check under ``root``."""
    hits = sorted(root.glob(check.path)) if check.path not in ("", ".") else [root]
    if not hits:
        return False, f"{check.path}: not found (expected {check.expected} by {check.kind})"
    found = count(hits[0], check.kind, check.pattern)
    ok = found == check.expected
    return ok, f"{check.path}: {found} by {check.kind}" + ("" if ok else f", expected {check.expected}")
