"""Locked, idempotent caches for what one chapter makes and another reuses (all chapters).

A chapter that needs an artefact of an earlier chapter (vectors, a small pretrained model, a trained tagger)
asks for it by key: :func:`cached_folder` builds it once into a staged folder, publishes it atomically with a
marker, and every later call (another notebook, a test, the book build) reuses it. Two processes asking at
once wait on a file lock instead of building twice; a build that fails leaves nothing behind.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import re
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from .paths import ensure_writable_dir, staged_directory, work_dir

__all__ = ["cache_key", "cached_folder", "file_lock"]

_MARKER = ".course-complete"


def cache_key(name: str, params: Mapping[str, Any]) -> str:
    """Return a folder-safe key ``name-<hash of params>`` (all chapters): same parameters, same folder."""
    if not re.fullmatch(r"[A-Za-z0-9_.-]+", name):
        raise ValueError(f"Cache name {name!r} must use only letters, digits, '_', '.', '-'.")
    blob = json.dumps(dict(params), sort_keys=True, default=str).encode()
    return f"{name}-{hashlib.sha256(blob).hexdigest()[:12]}"


@contextlib.contextmanager
def file_lock(path: Path, *, timeout: float = 6 * 3600) -> Iterator[None]:
    """Hold an exclusive lock on ``path`` (created if needed) for the duration of the ``with`` block."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as handle:
        start = time.monotonic()
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() - start > timeout:
                    raise TimeoutError(f"The lock {path} has been held for hours; delete it if its owner died.") from None
                time.sleep(0.2)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def cached_folder(key: str, build: Callable[[Path], None], *, root: Path | None = None) -> Path:
    """Return the folder ``<root>/cache/<key>``, calling ``build(tmp_folder)`` once to make it (all chapters).

    ``root`` defaults to ``COURSE_WORK_DIR``. The build writes into a temporary sibling folder which replaces
    the final one only when ``build`` returns; an exception leaves nothing behind and is re-raised.
    """
    base = ensure_writable_dir((root or work_dir()) / "cache", "cache")
    final = base / key
    if (final / _MARKER).is_file():
        return final
    with file_lock(base / ".locks" / f"{key}.lock"):
        if (final / _MARKER).is_file():  # built by another process while we waited
            return final
        with staged_directory(final, marker=_MARKER, marker_text=time.strftime("%Y-%m-%dT%H:%M:%S")) as tmp:
            build(tmp)
    return final
