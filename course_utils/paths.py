"""Where the course reads data and writes its work (set-up, every chapter).

Two folders, each overridable by an environment variable:

* ``COURSE_DATA_DIR``: downloaded datasets and models (may be read-only and pre-staged by a lab admin).
* ``COURSE_WORK_DIR``: everything the course generates (synthetic data, converted datasets, models).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from .errors import OutputNotWritableError

__all__ = ["data_dir", "work_dir", "ensure_writable_dir", "staged_directory"]

_DEFAULT_ROOT = Path.home() / ".cache" / "biomed-ai-course"


def data_dir() -> Path:
    """Return the datasets folder: ``$COURSE_DATA_DIR`` or ``~/.cache/biomed-ai-course/data``."""
    value = os.environ.get("COURSE_DATA_DIR")
    return Path(value).expanduser() if value else _DEFAULT_ROOT / "data"


def work_dir() -> Path:
    """Return the folder for generated files: ``$COURSE_WORK_DIR`` or ``~/.cache/biomed-ai-course/work``."""
    value = os.environ.get("COURSE_WORK_DIR")
    return Path(value).expanduser() if value else _DEFAULT_ROOT / "work"


def ensure_writable_dir(path: str | os.PathLike[str], purpose: str = "course output") -> Path:
    """Return ``path`` as a created folder, after proving a file can be written in it.

    Raises :class:`OutputNotWritableError` naming the folder, the reason and the fix when it cannot be
    created (for example because a parent is a regular file) or written (read-only mount).
    """
    folder = Path(path).expanduser()
    hint = (
        f"Choose a writable folder for the {purpose}: set COURSE_WORK_DIR (or pass another path) "
        "to a folder you own, e.g. `export COURSE_WORK_DIR=$HOME/course-work`."
    )
    for parent in [folder, *folder.parents]:
        if parent.exists() and not parent.is_dir():
            raise OutputNotWritableError(
                f"Cannot create the folder {folder}: {parent} exists and is a file, not a folder. {hint}"
            )
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".write-test-"):
            pass
    except OSError as exc:
        raise OutputNotWritableError(f"Cannot write to {folder}: {exc.strerror or exc}. {hint}") from exc
    return folder


@contextlib.contextmanager
def staged_directory(final: str | os.PathLike[str], marker: str | None = None, marker_text: str = "") -> Iterator[Path]:
    """Yield a temporary sibling folder of ``final`` to write into; on success it replaces ``final`` (after
    writing ``marker_text`` into the file ``marker``, if given, last), on any failure it is deleted, so ``final``
    is never half-written."""
    target = Path(final)
    parent = ensure_writable_dir(target.parent, "output")
    tmp = Path(tempfile.mkdtemp(dir=parent, prefix=f".{target.name}.tmp-"))
    try:
        yield tmp
        if marker:
            (tmp / marker).write_text(marker_text)
        if target.exists():
            shutil.rmtree(target)
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
