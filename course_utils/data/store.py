"""Fetching, verifying and locating datasets in ``COURSE_DATA_DIR`` (data layer).

``fetch(name)`` is idempotent and safe to run from several processes at once: a file lock lets one process
download while the others wait, and the marker ``NAME/.course-complete`` is written last, after every file
was verified and every archive extracted. A data folder that is read-only (pre-staged by a lab
administrator, or declared with ``COURSE_DATA_READONLY=1``) is only ever verified, never written.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from ..cache import file_lock
from ..errors import DataMissingError, DownloadError, IntegrityError
from ..paths import data_dir
from .archive import safe_extract
from .checks import run_check
from .download import download, file_digest
from .manifest import Manifest, load_manifest

__all__ = [
    "COMPLETE_MARKER", "LOCK_FILE", "VerifyReport", "dataset_path", "dataset_present", "require_dataset",
    "fetch", "verify", "data_dir_writable", "recorded_checksums", "dataset_available",
]

COMPLETE_MARKER = ".course-complete"
LOCK_FILE = "checksums.lock"


@dataclass
class VerifyReport:
    """What ``verify`` found: problems (empty when the dataset is complete) and what was checked."""

    name: str
    root: Path
    problems: list[str] = field(default_factory=list)
    checked: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Return True when nothing is missing or wrong."""
        return not self.problems

    def __str__(self) -> str:
        head = f"{self.name}: {'complete' if self.ok else 'INCOMPLETE'} in {self.root}"
        lines = [head] + [f"  ok       {c}" for c in self.checked] + [f"  PROBLEM  {p}" for p in self.problems]
        return "\n".join(lines)


def dataset_path(name: str, root: Path | None = None) -> Path:
    """Return the folder where dataset ``name`` lives (it may not exist yet)."""
    return (root or data_dir()) / name


def dataset_present(name: str) -> bool:
    """Return True when dataset ``name`` has been fetched and verified completely."""
    return (dataset_path(name) / COMPLETE_MARKER).is_file()


def dataset_available(name: str) -> bool:
    """Return True when dataset ``name`` can be used: fetched, or staged read-only and verified."""
    if dataset_present(name):
        return True
    return not data_dir_writable() and dataset_path(name).is_dir() and verify(name).ok


def require_dataset(name: str) -> Path:
    """Return the folder of dataset ``name`` if :func:`dataset_available`, else raise
    :class:`DataMissingError` naming the command that gets it."""
    if dataset_available(name):
        return dataset_path(name)
    raise DataMissingError(
        f"The dataset {name!r} is not in {dataset_path(name)}. Fetch it with "
        f"`python -m course_utils.data fetch {name}` (or set COURSE_DATA_DIR to a folder where a lab "
        f"administrator staged it), or run in the smoke profile: `export COURSE_PROFILE=smoke`."
    )


def data_dir_writable(root: Path | None = None) -> bool:
    """Return False when ``COURSE_DATA_DIR`` is declared read-only or a file cannot be created in it."""
    if os.environ.get("COURSE_DATA_READONLY", "").strip().lower() in {"1", "true", "yes"}:
        return False
    folder = root or data_dir()
    probe_dir = folder if folder.exists() else next((p for p in folder.parents if p.exists()), None)
    if probe_dir is None or not probe_dir.is_dir():
        return False
    try:
        with tempfile.NamedTemporaryFile(dir=probe_dir, prefix=".write-test-"):
            return True
    except OSError:
        return False


def recorded_checksums(root: Path | None = None) -> dict[str, dict[str, object]]:
    """Return the sha256 and size recorded on first download of unverified files (``checksums.lock``)."""
    path = (root or data_dir()) / LOCK_FILE
    return json.loads(path.read_text()) if path.is_file() else {}


def _record_checksum(root: Path, key: str, sha256: str, size: int) -> None:
    path = root / LOCK_FILE
    with _locked(root, "checksums"):
        table = recorded_checksums(root)
        table[key] = {"sha256": sha256, "size": size, "recorded": time.strftime("%Y-%m-%d")}
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(table, indent=2, sort_keys=True))
        os.replace(tmp, path)


def _locked(root: Path, name: str, timeout: float = 6 * 3600) -> contextlib.AbstractContextManager[None]:
    # The one file lock of the course (course_utils.cache), on <root>/.locks/<name>.lock.
    return file_lock(root / ".locks" / f"{name}.lock", timeout=timeout)


def _fix(name: str) -> str:
    return f"python -m course_utils.data fetch {name}"


def verify(name: str, root: Path | None = None, *, manifest: Manifest | None = None) -> VerifyReport:
    """Return a report on dataset ``name`` in ``root`` (default: its folder in ``COURSE_DATA_DIR``).

    Checks the manifest's layout (glob patterns), its known counts, and the checksums of files kept as
    downloaded (against the manifest, or ``checksums.lock`` for unverified ones). Never writes.
    """
    m = manifest or load_manifest(name)
    folder = root or dataset_path(name)
    report = VerifyReport(name, folder)
    if not folder.is_dir():
        report.problems.append(f"the folder {folder} does not exist")
        return report
    for pattern in m.layout_files:
        hits = [p for p in folder.glob(pattern) if p.is_file()]
        (report.checked if hits else report.problems).append(
            f"file {pattern}" if hits else f"missing file matching {pattern}")
    for pattern in m.layout_dirs:
        hits = [p for p in folder.glob(pattern) if p.is_dir()]
        (report.checked if hits else report.problems).append(
            f"folder {pattern}" if hits else f"missing folder matching {pattern}")
    for check in m.checks:
        ok, message = run_check(folder, check)
        (report.checked if ok else report.problems).append(message)
    lock = recorded_checksums(folder.parent)
    for spec in m.files:
        if spec.extract:
            continue
        path = folder / spec.filename
        if not path.is_file():
            if not m.layout_files:  # without a layout, the downloaded files are the layout
                report.problems.append(f"missing downloaded file {spec.filename}")
            continue
        if spec.checksum:
            actual = file_digest(path, spec.algorithm or "sha256")
            good = actual == spec.checksum
            (report.checked if good else report.problems).append(
                f"{spec.filename} {spec.algorithm} {'matches' if good else f'is {actual}, manifest says'} {spec.checksum}")
        elif f"{name}/{spec.filename}" in lock:
            expected = lock[f"{name}/{spec.filename}"]["sha256"]
            good = file_digest(path) == expected
            (report.checked if good else report.problems).append(
                f"{spec.filename} sha256 {'matches' if good else 'differs from'} the value recorded in {LOCK_FILE}")
    return report


def fetch(name: str, *, root: Path | None = None, manifest: Manifest | None = None, show_progress: bool = True) -> Path:
    """Return the folder of dataset ``name``, downloading, verifying and extracting it first if needed.

    A second call does no work. With a read-only data folder it only verifies what an administrator staged.
    Raises :class:`DataMissingError` (manual data, read-only and incomplete, offline) with the next step.
    """
    m = manifest or load_manifest(name)
    base = root or data_dir()
    folder = dataset_path(name, base)
    if (folder / COMPLETE_MARKER).is_file():
        return folder
    if not data_dir_writable(base):
        report = verify(name, folder, manifest=m)
        if report.ok:
            return folder
        raise DataMissingError(
            f"{base} is read-only (staged by an administrator) and {name} there is incomplete:\n{report}\n"
            f"Ask the administrator to run `{_fix(name)}` with write access, or point COURSE_DATA_DIR at a "
            "writable folder of your own."
        )
    if m.status == "manual" or (not m.files and m.derived_from is None):
        report = verify(name, folder, manifest=m)
        if report.ok:
            _write_marker(folder, m)
            return folder
        steps = "\n".join(f"  {i}. {s}" for i, s in enumerate(m.manual_steps, 1))
        raise DataMissingError(
            f"{m.title} cannot be downloaded automatically ({m.licence}). Place it by hand:\n{steps}\n"
            f"What is missing now:\n{report}"
        )
    if m.derived_from is not None and not m.files:
        raise DataMissingError(f"{name} is derived from {m.derived_from}: run `{m.conversion}`.")
    if os.environ.get("COURSE_OFFLINE", "").strip().lower() in {"1", "true", "yes"}:
        raise DownloadError(f"COURSE_OFFLINE is set, so {name} cannot be downloaded. Unset it and run `{_fix(name)}`.")
    base.mkdir(parents=True, exist_ok=True)
    with _locked(base, name):
        if (folder / COMPLETE_MARKER).is_file():  # another process finished while we waited
            return folder
        downloads = base / ".downloads" / name
        lock = recorded_checksums(base)
        for spec in m.files:
            key = f"{name}/{spec.filename}"
            algorithm, checksum = spec.algorithm, spec.checksum
            if checksum is None and key in lock:
                algorithm, checksum = "sha256", str(lock[key]["sha256"])
            size = spec.size if spec.size is not None else (int(lock[key]["size"]) if key in lock else None)  # type: ignore[arg-type]
            target = downloads / spec.filename
            if not target.is_file():
                download(spec.url, target, size=size, algorithm=algorithm, checksum=checksum,
                         fix_command=_fix(name), show_progress=show_progress)
            if spec.checksum is None and key not in lock:
                _record_checksum(base, key, file_digest(target), target.stat().st_size)
            if spec.extract:
                safe_extract(target, folder)
                target.unlink()
            else:
                folder.mkdir(parents=True, exist_ok=True)
                os.replace(target, folder / spec.filename)
        report = verify(name, folder, manifest=m)
        if not report.ok:
            raise IntegrityError(f"{name} was downloaded but does not look complete:\n{report}\n"
                                 f"Remove {folder} and run `{_fix(name)}` again; if it persists the manifest is out of date.")
        _write_marker(folder, m)
        shutil.rmtree(downloads, ignore_errors=True)
    return folder


def _write_marker(folder: Path, m: Manifest) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    info = {"name": m.name, "title": m.title, "status": m.status, "fetched": time.strftime("%Y-%m-%dT%H:%M:%S"),
            "files": [f.filename for f in m.files]}
    tmp = folder / (COMPLETE_MARKER + ".tmp")
    tmp.write_text(json.dumps(info, indent=2))
    os.replace(tmp, folder / COMPLETE_MARKER)
