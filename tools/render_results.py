"""Render the book's results pages from the committed benchmark records (issue: honest numbers).

Every measured figure on ``book/reference_results.md`` and ``book/results/chNN.md`` comes from a JSON record in
``benchmarks/results/`` written by a benchmark (``course_utils.records.write_record``). The pages are written from
templates in ``benchmarks/pages/`` (same file names: ``reference_results.md`` and ``chNN.md``); a template holds prose, targets and placeholders:

- ``[[NAME:PATH]]`` or ``[[NAME:PATH:FORMAT]]``: the value at dotted ``PATH`` of record ``NAME`` (``figures.f1.mean``,
  ``times_s.total``, ``seeds``), formatted with Python's ``format`` spec (``.3f``, ``.1%``, ``,d``); a list is
  joined with ", ";
- ``[[NAME:@run]]``: one line on how the record was made: date, machine (cores, GPU), threads, load average at
  start, commit, and the command, so every figure carries its conditions;
- ``[[NAME:@cond]]``: the short form for a table row: date, cores, threads, load average at start, commit (the
  command is in the page's ``@run`` line or its command column);
- ``[[NAME:@command]]``: the command alone, in backticks.

A key that holds characters other than letters, digits, ``_``, ``-`` and ``@`` is written in braces:
``[[ch14.x:figures.{develop (tuning set)}.{tfidf | vocabulary only [tfidf]}.{Acc@1}:.3f]]``.

A placeholder naming a record or a path that does not exist stops the rendering with the template's file and
line. ``python tools/render_results.py`` writes the pages; ``--check`` writes nothing and exits 1 when a committed
page differs from what its template and the records give (tests/test_results_pages.py runs it).
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from course_utils.records import RESULTS_DIR, load_records  # noqa: E402

TEMPLATES = ROOT / "benchmarks" / "pages"
_SEGMENT = r"(?:\{[^{}]*\}|[A-Za-z0-9_\-@]+)"
PLACEHOLDER = re.compile(r"\[\[([a-z0-9][a-z0-9_.-]*):(@run|@cond|@command|" + _SEGMENT + r"(?:\." + _SEGMENT
                         + r")*)(?::([^\]]*))?\]\]")
_SPLIT = re.compile(_SEGMENT)
BANNER = ("% Written by tools/render_results.py from {template} and the records in benchmarks/results/:\n"
          "% edit the template, then run `python tools/render_results.py`.\n")


class RenderError(Exception):
    """A template that names a missing record or value (file and line in the message)."""


def _lookup(record: dict[str, Any], path: str) -> Any:
    value: Any = record
    for token in _SPLIT.findall(path):
        part = token[1:-1] if token.startswith("{") else token
        if isinstance(value, dict) and part in value:
            value = value[part]
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            raise KeyError(path)
    return value


def _format(value: Any, spec: str | None) -> str:
    if isinstance(value, list):
        return ", ".join(_format(v, spec) for v in value)
    if value is None:
        return "n/a"
    if spec:
        return format(value, spec)
    return str(value)


def describe_run(record: dict[str, Any]) -> str:
    """Return one line of a record's conditions: date, machine, threads, load, commit, command."""
    machine = record.get("machine", {})
    where = f"{machine.get('arch', '?')}, {machine.get('cores', '?')} cores"
    if machine.get("gpu"):
        where += f", {machine.get('gpu_count', 1)} x {machine['gpu']}"
    load = record.get("load_average_start") or []
    threads = record.get("threads")
    commit = (record.get("commit") or "")[:7] or "unknown commit"
    if record.get("uncommitted_changes"):
        commit += " + uncommitted changes"
    parts = [str(record.get("started", "?"))[:10], where]
    if threads:
        parts.append(f"{threads} thread{'s' if threads != 1 else ''}")
    if load:
        parts.append(f"load {load[0]:.1f} at start")
    parts.append(f"commit {commit}")
    total = (record.get("times_s") or {}).get("total")
    if total is not None:
        parts.append(f"{total:.0f} s in all")
    return "; ".join(parts) + f"; `{record.get('command', '?')}`"


def describe_conditions(record: dict[str, Any]) -> str:
    """Return the short conditions of a record for a table row: date, cores, threads, load, commit."""
    machine = record.get("machine", {})
    parts = [str(record.get("started", "?"))[:10], f"{machine.get('cores', '?')} cores"]
    if machine.get("gpu"):
        parts[-1] += f", {machine['gpu']}"
    if record.get("threads"):
        parts.append(f"{record['threads']} thread{'s' if record['threads'] != 1 else ''}")
    load = record.get("load_average_start") or []
    if load:
        parts.append(f"load {load[0]:.1f}")
    commit = (record.get("commit") or "")[:7] or "unknown commit"
    if record.get("uncommitted_changes"):
        commit += "+"
    parts.append(commit)
    return ", ".join(parts) + f" (`{record.get('name', '?')}`)"


def render_text(text: str, records: dict[str, dict[str, Any]], source: str = "<template>") -> str:
    """Return ``text`` with every placeholder replaced from ``records`` (raises RenderError naming the line)."""
    out_lines = []
    for number, line in enumerate(text.splitlines(keepends=True), start=1):
        def replace(match: re.Match[str], number: int = number) -> str:
            name, path, spec = match.group(1), match.group(2), match.group(3)
            if name not in records:
                raise RenderError(f"{source}:{number}: no record {name!r} in benchmarks/results/ (run the "
                                  f"benchmark that writes it, or remove the figure from the page)")
            record = records[name]
            if path == "@run":
                return describe_run(record)
            if path == "@cond":
                return describe_conditions(record)
            if path == "@command":
                return f"`{record.get('command', '?')}`"
            try:
                value = _lookup(record, path)
            except KeyError:
                raise RenderError(f"{source}:{number}: record {name!r} has no value at {path!r}") from None
            try:
                return _format(value, spec)
            except (TypeError, ValueError) as exc:
                raise RenderError(f"{source}:{number}: cannot format {path!r} = {value!r} with {spec!r}: "
                                  f"{exc}") from None
        out_lines.append(PLACEHOLDER.sub(replace, line))
    return "".join(out_lines)


def render_all(results_dir: Path = RESULTS_DIR, templates: Path = TEMPLATES) -> dict[Path, str]:
    """Return every page's rendered text, keyed by the page path the template writes."""
    records = load_records(results_dir)
    pages: dict[Path, str] = {}
    for template in sorted(templates.glob("*.md")):
        target = ROOT / "book" / (template.name if template.name == "reference_results.md"
                                  else f"results/{template.name}")
        body = render_text(template.read_text(encoding="utf-8"), records,
                           source=template.relative_to(ROOT).as_posix())
        pages[target] = BANNER.format(template=template.relative_to(ROOT).as_posix()) + body
    return pages


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 when a page is out of date")
    args = parser.parse_args(argv)
    try:
        pages = render_all()
    except RenderError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    stale = []
    for path, text in pages.items():
        current = path.read_text(encoding="utf-8") if path.is_file() else None
        if current != text:
            stale.append(path)
            if not args.check:
                path.write_text(text, encoding="utf-8")
    for path in stale:
        verb = "out of date" if args.check else "written"
        print(f"{path.relative_to(ROOT).as_posix()}: {verb}")
    if args.check and stale:
        print("run `python tools/render_results.py` and commit the pages", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
