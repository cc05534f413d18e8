"""Write the student edition of every chapter notebook: solutions out, checkers in, outputs cleared.

    .venv/bin/python tools/student_edition.py write [--out _build/student]   # or: make student
    .venv/bin/python tools/student_edition.py check _build/student           # no solution survived?

For each notebook of ``_toc.yml`` (or the ``--notebook`` files named) the student edition

- removes every cell tagged ``solution`` (or ``solution-cell``), and from every markdown cell the solution
  dropdown the chapters use (a fenced ``{dropdown} Solution`` block that shows ``*_solution`` from
  ``course_utils.exercises.chNN``); a cell left empty is dropped, the rest of the cell (the next exercise's
  task, the summary) stays;
- keeps every exercise's answer cell (``...`` as its body) and checker call, so a student sees "not attempted
  yet" until they answer, and keeps the hidden claims cells with their ``remove-cell`` tag;
- clears every output and execution count.

It is written to ``OUT/notebooks/<part>/<chapter>.ipynb`` (default ``_build/student``), through a temporary
folder renamed into place, so a failed run leaves the previous edition intact and nothing half-written.

Solutions stay in the package (``course_utils/exercises/chNN.py``, where the tests run them through their
checkers): an instructor who hands out the package too must not hand out that folder's ``*_solution``
functions.
"""

from __future__ import annotations

import argparse
import copy
import re
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from course_utils.commands import Verb, run_command  # noqa: E402
from course_utils.errors import CourseError  # noqa: E402

__all__ = ["SOLUTION_TAGS", "StudentError", "Report", "student_notebook", "write_edition", "solution_leaks",
           "first_checker_index", "toc_notebooks"]

SOLUTION_TAGS = frozenset({"solution", "solution-cell"})
DEFAULT_OUT = ROOT / "_build" / "student"
# A fenced dropdown whose title starts with "Solution": backticks (```` or more) or colons (::: or more).
_DROPDOWN = re.compile(
    r"^(?P<fence>`{3,}|:{3,})\{dropdown\}[ \t]+Solution\b[^\n]*\n(?P<body>.*?)^(?P=fence)[ \t]*(?:\n|\Z)",
    re.MULTILINE | re.DOTALL)
# What gives a solution away: the dropdown's title, or a reference to a solution function of the package.
_LEAK = re.compile(r"\{dropdown\}[ \t]+Solution|\b\w+_solution\b")
# A checker call: chNN.check_xxx(...)
_CHECKER = re.compile(r"^\s*ch\d\d\.check_\w+\(", re.MULTILINE)


class StudentError(CourseError, ValueError):
    """A notebook the student edition cannot be made from (names the file, and the cell where it helps)."""


@dataclass(frozen=True)
class Report:
    """What the student edition changed in one notebook."""

    source: Path
    target: Path
    cells_removed: int
    dropdowns_removed: int
    checkers: int


def toc_notebooks() -> list[Path]:
    """Return the chapter notebooks named in ``_toc.yml``, in book order."""
    import yaml

    found: list[Path] = []

    def walk(node: object) -> None:
        if isinstance(node, dict):
            file = node.get("file")
            if isinstance(file, str) and (ROOT / f"{file}.ipynb").is_file():
                found.append(ROOT / f"{file}.ipynb")
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(yaml.safe_load((ROOT / "_toc.yml").read_text()))
    return found


def _read(path: Path) -> nbformat.NotebookNode:
    try:
        return nbformat.read(path, as_version=4)
    except FileNotFoundError:
        raise StudentError(f"{path}: no such notebook; name a notebook of the course (see _toc.yml)") from None
    except Exception as exc:  # nbformat raises several types for a damaged file
        raise StudentError(f"{path}: not a readable notebook ({type(exc).__name__}: {exc}); "
                           "restore it from git and run again") from None


def student_notebook(nb: nbformat.NotebookNode, name: str = "notebook") -> tuple[nbformat.NotebookNode, int, int]:
    """Return ``(student copy, cells removed, dropdowns removed)`` of a chapter notebook (the input is untouched).

    Raises :class:`StudentError` when a solution would survive (a code cell that calls a ``*_solution``
    function, say): the notebook has to be fixed, not handed out.
    """
    out = copy.deepcopy(nb)
    cells = []
    removed = dropdowns = 0
    for index, cell in enumerate(out.cells):
        tags = set(cell.get("metadata", {}).get("tags", []))
        if tags & SOLUTION_TAGS:
            removed += 1
            continue
        if cell.cell_type == "markdown":
            text, n = _DROPDOWN.subn("", cell.source)
            dropdowns += n
            if n:
                text = re.sub(r"\n{3,}", "\n\n", text).strip("\n")
                if not text.strip():
                    removed += 1
                    continue
                cell.source = text
        elif cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
            cell.metadata.pop("execution", None)
        leak = _LEAK.search(cell.source)
        if leak:
            raise StudentError(f"{name}, cell {index} ({cell.cell_type}): {leak.group(0)!r} would reach students; "
                               "tag the cell 'solution' or move the solution into a Solution dropdown")
        cells.append(cell)
    out.cells = cells
    return out, removed, dropdowns


def first_checker_index(nb: nbformat.NotebookNode) -> int | None:
    """Return the index of the first code cell that calls an exercise checker (``chNN.check_...``), or None."""
    for index, cell in enumerate(nb.cells):
        if cell.cell_type == "code" and _CHECKER.search(cell.source):
            return index
    return None


def solution_leaks(nb: nbformat.NotebookNode) -> list[str]:
    """Return one line per cell of ``nb`` that still shows a solution (empty for a clean student notebook)."""
    leaks = []
    for index, cell in enumerate(nb.cells):
        tags = set(cell.get("metadata", {}).get("tags", []))
        if tags & SOLUTION_TAGS:
            leaks.append(f"cell {index}: tagged {sorted(tags & SOLUTION_TAGS)}")
        match = _LEAK.search(cell.source)
        if match:
            leaks.append(f"cell {index}: {match.group(0)!r}")
        if cell.cell_type == "code" and (cell.get("outputs") or cell.get("execution_count")):
            leaks.append(f"cell {index}: outputs not cleared")
    return leaks


def write_edition(notebooks: list[Path], out: Path) -> list[Report]:
    """Write the student edition of ``notebooks`` under ``out`` (replacing what was there); return the reports."""
    if not notebooks:
        raise StudentError("no notebooks to convert: _toc.yml names none, or --notebook was given none")
    out = out.resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}-", dir=out.parent))
    reports = []
    try:
        for source in notebooks:
            source = source.resolve()
            try:
                relative = source.relative_to(ROOT)
            except ValueError:
                relative = Path("notebooks") / source.name
            nb = _read(source)
            student, removed, dropdowns = student_notebook(nb, str(relative))
            checkers = sum(1 for c in student.cells if c.cell_type == "code" and _CHECKER.search(c.source))
            originals = sum(1 for c in nb.cells if c.cell_type == "code" and _CHECKER.search(c.source))
            if checkers != originals:  # defensive: a checker was inside a removed cell
                raise StudentError(f"{relative}: {originals - checkers} exercise checker(s) sat in a solution cell; "
                                   "keep checkers in their own untagged code cell")
            target = staging / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            nbformat.validate(student)
            nbformat.write(student, target)
            reports.append(Report(source, out / relative, removed, dropdowns, checkers))
        if out.exists():
            shutil.rmtree(out)
        staging.rename(out)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    return reports


def _write(args: argparse.Namespace) -> int:
    notebooks = [Path(p) for p in args.notebook] if args.notebook else toc_notebooks()
    reports = write_edition(notebooks, args.out)
    for r in reports:
        print(f"{r.target.relative_to(ROOT) if r.target.is_relative_to(ROOT) else r.target}: "
              f"{r.dropdowns_removed} solution dropdown(s) and {r.cells_removed} cell(s) removed, "
              f"{r.checkers} checker(s) kept, outputs cleared")
    print(f"student edition: {len(reports)} notebooks in {args.out}")
    return 0


def _check(args: argparse.Namespace) -> int:
    folder = Path(args.folder)
    paths = sorted(folder.rglob("*.ipynb"))
    if not paths:
        raise StudentError(f"{folder}: no notebooks; write the edition first (make student)")
    bad = 0
    for path in paths:
        for leak in solution_leaks(_read(path)):
            print(f"{path}: {leak}", file=sys.stderr)
            bad += 1
    if bad:
        raise StudentError(f"{bad} solution leak(s) in {folder} (listed above); rerun `make student`")
    print(f"{len(paths)} student notebooks, no solution and no output in them")
    return 0


def _write_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT,
                        help="folder of the student edition (default _build/student; replaced as a whole)")
    parser.add_argument("--notebook", action="append", default=[],
                        help="a notebook to convert (repeatable; default: every notebook of _toc.yml)")


VERBS = [
    Verb("write", "write the student edition of every chapter notebook", _write, _write_arguments),
    Verb("check", "check that a student edition holds no solution and no output", _check,
         lambda p: p.add_argument("folder", help="the student edition's folder, e.g. _build/student")),
]


def main(argv: list[str] | None = None) -> int:
    return run_command("student_edition", __doc__.splitlines()[0], VERBS, argv)


if __name__ == "__main__":
    sys.exit(main())
