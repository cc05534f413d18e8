"""Fetching, verifying and locating datasets in ``COURSE_DATA_DIR`` (data layer).

``fetch(name)`` is idempotent and safe to run from several processes at once: a file lock lets one process
download while the others wait, and the marker ``NAME/.course-complete`` is written last, after every file
was verified and every archive extracted. A data folder that is read-only (pre-staged by a lab
administrator, or declared with ``COURSE_DATA_READONLY=1``) is only ever verified, never written.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from ..cache import file_lock
from ..errors import DataMissingError, DownloadError, IntegrityError, OutputNotWritableError
from ..paths import data_dir
from ..progress import progress_bar
from .archive import safe_extract
from .checks import run_check
from .download import cached_digest, download
from .manifest import FileSpec, Manifest, hub_file_url, load_manifest

__all__ = [
    "COMPLETE_MARKER", "LOCK_FILE", "VerifyReport", "dataset_path", "dataset_present", "require_dataset",
    "fetch", "stage", "verify", "data_dir_writable", "recorded_checksums", "dataset_available", "hf_hub_cache",
    "offline_flag",
]

_log = logging.getLogger(__name__)

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


def offline_flag(hub: bool = False) -> str | None:
    """Return the environment variable that forbids downloading, or None: ``COURSE_OFFLINE``, and for a hub
    model also ``HF_HUB_OFFLINE`` (read as huggingface_hub reads it)."""
    for var in ("COURSE_OFFLINE", "HF_HUB_OFFLINE") if hub else ("COURSE_OFFLINE",):
        if os.environ.get(var, "").strip().lower() in {"1", "true", "yes", "on"}:
            return var
    return None


def hf_hub_cache() -> Path:
    """Return the Hugging Face hub cache folder, resolved as huggingface_hub does but when called:
    ``$HF_HUB_CACHE``, ``$HUGGINGFACE_HUB_CACHE``, ``$HF_HOME/hub``, ``$XDG_CACHE_HOME/huggingface/hub``,
    ``~/.cache/huggingface/hub``."""
    for var in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE"):
        if os.environ.get(var):
            return Path(os.path.expandvars(os.environ[var])).expanduser()
    home = os.environ.get("HF_HOME") or os.path.join(os.environ.get("XDG_CACHE_HOME") or "~/.cache", "huggingface")
    return Path(os.path.expandvars(home)).expanduser() / "hub"


def _from_hf_cache(m: Manifest, spec: FileSpec, target: Path, size: int | None, algorithm: str | None,
                   checksum: str | None) -> bool:
    """Put the Hugging Face cache's copy of a hub file at ``target`` if the cache holds it at the pinned revision
    and it passes the size and checksum checks; return whether it did."""
    from huggingface_hub import try_to_load_from_cache

    assert m.hub_id is not None and m.revision is not None
    found: object = None
    for repo in (m.hub_id, *m.hub_aliases):  # a renamed repository may be cached under its former id
        try:
            found = try_to_load_from_cache(repo, spec.filename, cache_dir=str(hf_hub_cache()), revision=m.revision)
        except (ValueError, OSError):
            found = None
        if isinstance(found, str) and os.path.isfile(found):
            break
    if not isinstance(found, str) or not os.path.isfile(found):
        return False
    part = target.with_name(target.name + ".part")
    part.parent.mkdir(parents=True, exist_ok=True)
    part.unlink(missing_ok=True)
    try:
        os.link(os.path.realpath(found), part)  # the cache's blobs are never changed in place: share, don't copy
    except OSError:
        shutil.copyfile(found, part)
    got = part.stat().st_size
    if (size is not None and got != size) or (checksum and cached_digest(part, algorithm or "sha256") != checksum):
        part.unlink()
        _log.warning("%s in the Hugging Face cache (%s) does not match %s; downloading it instead.",
                     spec.filename, found, m.source)
        return False
    os.replace(part, target)
    _log.info("%s/%s taken from the Hugging Face cache (%s).", m.name, spec.filename, found)
    return True


def _already_in_place(path: Path, size: int | None, algorithm: str | None, checksum: str | None) -> bool:
    # A file moved into the dataset folder by an earlier, interrupted fetch: keep it if it still checks out.
    if not path.is_file() or checksum is None or (size is not None and path.stat().st_size != size):
        return False
    return cached_digest(path, algorithm or "sha256") == checksum


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
            actual = cached_digest(path, spec.algorithm or "sha256")
            good = actual == spec.checksum
            (report.checked if good else report.problems).append(
                f"{spec.filename} {spec.algorithm} {'matches' if good else f'is {actual}, manifest says'} {spec.checksum}")
        elif f"{name}/{spec.filename}" in lock:
            expected = lock[f"{name}/{spec.filename}"]["sha256"]
            good = cached_digest(path) == expected
            (report.checked if good else report.problems).append(
                f"{spec.filename} sha256 {'matches' if good else 'differs from'} the value recorded in {LOCK_FILE}")
    return report


def fetch(name: str, *, root: Path | None = None, manifest: Manifest | None = None, show_progress: bool = True,
          download_allowed: bool = True) -> Path:
    """Return the folder of dataset ``name``, downloading, verifying and extracting it first if needed.

    A second call does no work. With a read-only data folder it only verifies what an administrator staged.
    A hub model's files are taken from the Hugging Face cache when it holds them at the pinned revision;
    ``download_allowed=False`` uses only that cache (what loading a model does: it never contacts the hub).
    Raises :class:`DataMissingError` (manual data, read-only and incomplete) and :class:`DownloadError`
    (offline, server down) with the next step.
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
    hub = any(spec.from_hub for spec in m.files)
    if not hub and offline_flag():  # a hub model may still come from the Hugging Face cache
        raise DownloadError(f"COURSE_OFFLINE is set, so {name} cannot be downloaded. Unset it and run `{_fix(name)}`.")
    if not hub and not download_allowed:
        raise DownloadError(f"{name} is not in {folder}, and nothing is downloaded here. Run `{_fix(name)}`.")
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
            if not spec.extract and _already_in_place(folder / spec.filename, size, algorithm, checksum):
                continue
            if not target.is_file() and not (spec.from_hub and _from_hf_cache(m, spec, target, size, algorithm,
                                                                              checksum)):
                flag = offline_flag(spec.from_hub)
                if flag or not download_allowed:
                    where = f" and {spec.filename} is not in the Hugging Face cache ({hf_hub_cache()})" if spec.from_hub else ""
                    why = f"{flag} is set, so" if flag else "Loading never downloads:"
                    raise DownloadError(f"{why} {name} ({m.source}) cannot be downloaded{where}. "
                                        f"{'Unset it and run' if flag else 'Run'} `{_fix(name)}`.")
                url = hub_file_url(m.hub_id, m.revision, spec.filename) if spec.from_hub else spec.url  # type: ignore[arg-type]
                download(url, target, size=size, algorithm=algorithm, checksum=checksum,
                         fix_command=_fix(name), show_progress=show_progress)
            if spec.checksum is None and key not in lock:
                _record_checksum(base, key, cached_digest(target), target.stat().st_size)
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


def _write_marker(folder: Path, m: Manifest, **extra: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    info = {"name": m.name, "title": m.title, "status": m.status, "fetched": time.strftime("%Y-%m-%dT%H:%M:%S"),
            "files": [f.filename for f in m.files], **extra}
    if not m.redistributable:  # the marker course_utils.ie.brat.is_redistributable looks for (chapter 12)
        (folder / "NOT_REDISTRIBUTABLE").write_text(
            f"{m.name}: {m.licence}. Show counts and scores only; never its text.\n", encoding="utf-8")
    tmp = folder / (COMPLETE_MARKER + ".tmp")
    tmp.write_text(json.dumps(info, indent=2))
    os.replace(tmp, folder / COMPLETE_MARKER)


def _skipped_when_staging(relative: Path) -> bool:
    # The course's own bookkeeping and anything half-written is never copied.
    name = relative.name
    return (name == COMPLETE_MARKER or name.endswith((".part", ".tmp", ".lock")) or name == LOCK_FILE
            or any(part in {".locks", ".downloads", ".git"} or part.startswith(".stage-") for part in relative.parts))


def _files_to_stage(m: Manifest, source: Path) -> list[Path]:
    """Return the files (relative to ``source``) that staging copies.

    A model takes only its manifest's files (a hub snapshot may also hold TensorFlow or Flax weights the course
    never loads); a dataset takes the whole folder, since its layout and counts describe what is inside.
    """
    if m.kind == "model":
        wanted = {Path(spec.filename) for spec in m.files if not spec.extract}
        for pattern in m.layout_files:
            wanted.update(p.relative_to(source) for p in source.glob(pattern) if p.is_file())
        return sorted(w for w in wanted if (source / w).is_file())
    return sorted(p.relative_to(source) for p in source.rglob("*")
                  if p.is_file() and not _skipped_when_staging(p.relative_to(source)))


def stage(name: str, source_folder: str | os.PathLike[str], *, root: Path | None = None,
          manifest: Manifest | None = None, show_progress: bool = True) -> Path:
    """Return the folder of ``name`` in ``COURSE_DATA_DIR`` after copying a folder a lab administrator already has
    into it and verifying it against the manifest (data layer; ``python -m course_utils.data stage NAME FOLDER``).

    Files with a checksum in the manifest must match it; files without one must match the value recorded in
    ``checksums.lock`` if there is one, else their sha256 and size are recorded there (trust on first use, as
    :func:`fetch` does). Everything is copied into a temporary folder beside the target, checked, marked
    complete and only then renamed into place, so a failure leaves the data folder as it was.
    """
    m = manifest or load_manifest(name)
    source = Path(source_folder).expanduser()
    expected = ", ".join(spec.filename for spec in m.files if not spec.extract) or ", ".join(m.layout_files)
    if not source.is_dir():
        raise DataMissingError(f"Cannot stage {name}: {source} is not a folder. Pass the folder that holds its "
                               f"files ({expected or 'see ' + str(m.source)}).")
    base = (root or data_dir()).expanduser()
    if not data_dir_writable(base):
        raise OutputNotWritableError(
            f"Cannot stage {name} into {base}: the folder is read-only (or COURSE_DATA_READONLY is set). Stage it "
            "as a user who can write there, or point COURSE_DATA_DIR at a writable folder.")
    base.mkdir(parents=True, exist_ok=True)
    folder = dataset_path(name, base)
    with _locked(base, name):
        scratch = Path(tempfile.mkdtemp(prefix=f".stage-{name}-", dir=base))
        try:
            staged = scratch / name
            staged.mkdir()
            files = _files_to_stage(m, source)
            bar = progress_bar(len(files), desc=f"staging {name}", unit="file", disable=not show_progress)
            for relative in files:
                target = staged / relative
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(source / relative, target)  # follows links, e.g. a hub cache's snapshot
                bar.update(1)
            bar.close()
            new_entries = _check_staged_files(m, source, staged, base)
            report = verify(name, staged, manifest=m)
            if not report.ok:
                raise DataMissingError(
                    f"{source} does not hold a complete {name} (manifest {m.source}):\n{report}\n"
                    f"Nothing was changed in {base}. Complete the folder and run "
                    f"`python -m course_utils.data stage {name} {source}` again.")
            for key, (digest, size) in new_entries.items():
                _record_checksum(base, key, digest, size)
            _write_marker(staged, m, staged_from=str(source.resolve()))
            if folder.exists():
                os.replace(folder, scratch / ".previous")  # out of the way first: never a mixed folder
            os.replace(staged, folder)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
    return folder


def _check_staged_files(m: Manifest, source: Path, staged: Path, base: Path) -> dict[str, tuple[str, int]]:
    """Check each staged file of the manifest; return the sha256 and size of those to record in checksums.lock."""
    lock = recorded_checksums(base)
    fix = f"Replace it in {source} with the file of {m.hub_id + ' at revision ' + str(m.revision) if m.hub_id else m.homepage}"
    new: dict[str, tuple[str, int]] = {}
    for spec in m.files:
        if spec.extract:
            continue
        path = staged / spec.filename
        if not path.is_file():
            raise DataMissingError(f"{source} has no {spec.filename}, which the manifest {m.source} lists. "
                                   f"Add it and run `python -m course_utils.data stage {m.name} {source}` again.")
        size = path.stat().st_size
        key = f"{m.name}/{spec.filename}"
        if spec.size is not None and size != spec.size:
            raise IntegrityError(f"{source / spec.filename} has {size:,} bytes; the manifest {m.source} says "
                                 f"{spec.size:,}. {fix}; nothing was staged.")
        if spec.checksum:
            found = cached_digest(path, spec.algorithm or "sha256")
            if found != spec.checksum:
                raise IntegrityError(f"{source / spec.filename}: {spec.algorithm} is {found}, the manifest {m.source} "
                                     f"pins {spec.checksum}. {fix}; nothing was staged.")
        elif key in lock:
            found, wanted = cached_digest(path), str(lock[key]["sha256"])
            if found != wanted:
                raise IntegrityError(
                    f"{source / spec.filename}: sha256 is {found}, but {base / LOCK_FILE} recorded {wanted} for "
                    f"{key} on its first download. {fix}; or, if the upstream file really changed, delete the entry "
                    f"{key!r} from {base / LOCK_FILE} and stage again. Nothing was staged.")
        else:
            new[key] = (cached_digest(path), size)
    return new
