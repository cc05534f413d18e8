"""Safe extraction of tar and zip archives (data layer).

Every member is checked before anything is written: absolute paths, ``..`` components, and symbolic or
hard links that point outside the target are refused, as are device files. Extraction goes into a
temporary sibling folder that is renamed into place, so a refused or interrupted extraction leaves nothing.
"""

from __future__ import annotations

import os
import shutil
import stat
import tarfile
import tempfile
import zipfile
from pathlib import Path, PurePosixPath

from ..errors import UnsafeArchiveError

__all__ = ["is_archive", "safe_extract"]

_TAR_SUFFIXES = (".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tar.xz")


def is_archive(path: str | os.PathLike[str]) -> bool:
    """Return True for a tar or zip archive (by content, not by name)."""
    file = Path(path)
    return zipfile.is_zipfile(file) or tarfile.is_tarfile(file)


def _inside(root: Path, relative: str) -> bool:
    candidate = (root / relative).resolve()
    return candidate == root or root in candidate.parents


def _check_name(archive: Path, name: str) -> None:
    pure = PurePosixPath(name.replace("\\", "/"))
    if pure.is_absolute() or name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":"):
        raise UnsafeArchiveError(f"{archive} holds an absolute path {name!r}; refusing to extract anything.")
    if ".." in pure.parts:
        raise UnsafeArchiveError(f"{archive} holds {name!r}, which climbs out with '..'; refusing to extract anything.")


def _check_tar(archive: Path, tar: tarfile.TarFile, root: Path) -> None:
    for member in tar.getmembers():
        _check_name(archive, member.name)
        if member.isdev() or member.isfifo():
            raise UnsafeArchiveError(f"{archive} holds a device or pipe {member.name!r}; refusing to extract anything.")
        if member.issym() or member.islnk():
            base = PurePosixPath(member.name).parent if member.issym() else PurePosixPath(".")
            link = PurePosixPath(member.linkname)
            if link.is_absolute() or not _inside(root, str(base / link)):
                kind = "symbolic" if member.issym() else "hard"
                raise UnsafeArchiveError(
                    f"{archive} holds a {kind} link {member.name!r} -> {member.linkname!r} that leaves the "
                    "target folder; refusing to extract anything."
                )


def _check_zip(archive: Path, zf: zipfile.ZipFile) -> None:
    for info in zf.infolist():
        _check_name(archive, info.filename)
        mode = info.external_attr >> 16
        if stat.S_ISLNK(mode):
            raise UnsafeArchiveError(f"{archive} holds a symbolic link {info.filename!r}; refusing to extract anything.")


def safe_extract(archive: str | os.PathLike[str], target: str | os.PathLike[str]) -> Path:
    """Extract ``archive`` into ``target`` (created), after checking every member; return ``target``.

    Raises :class:`UnsafeArchiveError` before writing anything if a member would escape ``target``.
    """
    source, dest = Path(archive), Path(target)
    dest.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=dest.parent, prefix=f".{dest.name}.extract-"))
    try:
        root = staging.resolve()
        if zipfile.is_zipfile(source):
            with zipfile.ZipFile(source) as zf:
                _check_zip(source, zf)
                zf.extractall(staging)
        elif tarfile.is_tarfile(source):
            with tarfile.open(source) as tar:
                _check_tar(source, tar, root)
                tar.extractall(staging, filter="data")  # the standard library's own guard, as a second line
        else:
            raise UnsafeArchiveError(f"{source} is neither a tar nor a zip archive.")
        for junk in staging.rglob("._*"):  # macOS resource forks, as shipped in the MSD archives
            if junk.is_file():
                junk.unlink()
        dest.mkdir(exist_ok=True)
        for item in staging.iterdir():
            final = dest / item.name
            if final.exists():
                shutil.rmtree(final) if final.is_dir() else final.unlink()
            os.replace(item, final)
    except tarfile.FilterError as exc:
        raise UnsafeArchiveError(f"{source}: {exc}; refusing to extract.") from exc
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return dest
