"""Downloads that resume, verify and never leave a half-written file (data layer).

A file is downloaded to ``NAME.part`` beside its target; an interrupted download resumes from the bytes
already there with an HTTP ``Range`` request; the size and checksum are checked before the ``.part`` file is
renamed into place (an atomic rename), and a file that fails the check is removed, never used.
"""

from __future__ import annotations

import functools
import hashlib
import os
from pathlib import Path

import requests

from ..errors import DownloadError, IntegrityError
from ..progress import progress

__all__ = ["file_digest", "cached_digest", "download"]

_CHUNK = 1 << 16  # small enough that an interrupted download keeps nearly all it received


def file_digest(path: str | os.PathLike[str], algorithm: str = "sha256") -> str:
    """Return the hex digest of a file (streamed, so any size)."""
    digest = hashlib.new(algorithm)
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(_CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


@functools.lru_cache(maxsize=256)
def _digest_of(path: str, algorithm: str, size: int, mtime_ns: int, ctime_ns: int, inode: int) -> str:
    # Keyed on the file's identity: writing, replacing or renaming a file changes its ctime, so it is hashed again.
    return file_digest(path, algorithm)


def cached_digest(path: str | os.PathLike[str], algorithm: str = "sha256") -> str:
    """Return the hex digest of a file, hashing it only once while it stays unchanged (size, times, inode).

    Loading a 440 MB model verifies it every time; this keeps the second and later checks instant.
    """
    stat = os.stat(path)
    return _digest_of(str(Path(path).resolve()), algorithm, stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns,
                      stat.st_ino)


def download(
    url: str,
    target: str | os.PathLike[str],
    *,
    size: int | None = None,
    algorithm: str | None = None,
    checksum: str | None = None,
    fix_command: str = "",
    timeout: float = 60.0,
    show_progress: bool = True,
) -> Path:
    """Download ``url`` to ``target`` (resuming a ``.part`` file), verify size and checksum, rename into place.

    Raises :class:`DownloadError` (server down, offline, HTTP error: the message names ``fix_command``) and
    :class:`IntegrityError` (wrong size or checksum: the partial file is deleted first).
    """
    target = Path(target)
    part = target.with_name(target.name + ".part")
    target.parent.mkdir(parents=True, exist_ok=True)
    again = f" Then run `{fix_command}` again." if fix_command else ""
    have = part.stat().st_size if part.exists() else 0
    if size is not None and have > size:
        part.unlink()
        have = 0
    headers = {"Range": f"bytes={have}-"} if have else {}
    try:
        response = requests.get(url, headers=headers, stream=True, timeout=timeout, allow_redirects=True)
    except requests.exceptions.ConnectionError as exc:
        raise DownloadError(
            f"Cannot reach {url}: the server is down or this machine is offline ({type(exc).__name__}). "
            f"Check the connection, or ask for the data to be staged in COURSE_DATA_DIR.{again}"
        ) from exc
    except requests.exceptions.Timeout as exc:
        raise DownloadError(f"{url} did not answer within {timeout:.0f} s.{again}") from exc
    with response:
        if response.status_code == 416 and size is not None and have == size:
            pass  # the .part file is already complete
        elif response.status_code >= 400:
            raise DownloadError(
                f"{url} answered HTTP {response.status_code} {response.reason}. The file may have moved: "
                f"check the manifest's url against the dataset's homepage.{again}"
            )
        else:
            resumed = response.status_code == 206
            if have and not resumed:
                have = 0  # the server ignored Range: start again
            length = response.headers.get("Content-Length")
            total = size if size is not None else (have + int(length) if length and length.isdigit() else None)
            bar = progress(None, total=total, initial=have, unit="B", unit_scale=True, unit_divisor=1024,
                           desc=target.name, disable=not show_progress, leave=False)
            try:
                with open(part, "ab" if resumed else "wb") as out:
                    for block in response.iter_content(_CHUNK):
                        out.write(block)
                        bar.update(len(block))  # type: ignore[attr-defined]
            except (requests.exceptions.RequestException, OSError) as exc:
                kept = part.stat().st_size if part.exists() else 0
                raise DownloadError(
                    f"The download of {url} stopped after {kept} bytes ({type(exc).__name__}); the partial file "
                    f"{part} is kept and the next attempt resumes from it.{again}"
                ) from exc
            finally:
                bar.close()  # type: ignore[attr-defined]
    got = part.stat().st_size
    if size is not None and got != size:
        part.unlink()
        raise IntegrityError(
            f"{url} gave {got} bytes, but the manifest says {size}; the incomplete file was removed.{again}"
        )
    if checksum:
        actual = file_digest(part, algorithm or "sha256")
        if actual != checksum:
            part.unlink()
            raise IntegrityError(
                f"The {algorithm} checksum of {url} is {actual}, not the {checksum} the manifest expects; the "
                f"corrupted file was removed and never used.{again}"
            )
    os.replace(part, target)
    return target
