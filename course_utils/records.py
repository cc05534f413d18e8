"""Benchmark records: the evidence behind every real-data figure of the book (all chapters).

A benchmark (``benchmarks/chNN_*.py``) ends with :func:`write_record`, which writes one JSON file into the
committed ``benchmarks/results/`` folder: the command that ran, the commit (and whether the tree had
uncommitted changes), the machine, the thread count, the load average when it started, the seeds, the sha256 of
the data it read, its figures and its times. The results pages are rendered from these files
(``tools/render_results.py``), and a test fails when a page and its records disagree.

Usage::

    run = start_run("ch12.bilstm_crf", seeds=[1, 2, 3], threads=2)   # at the start: load, clock, command
    ...                                                               # the measurement
    write_record(run, figures={"test_f1": {"mean": 0.70, ...}}, data={"ruijin": folder})
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import re
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .errors import CourseError

__all__ = ["RunInfo", "start_run", "write_record", "load_records", "data_sha256", "machine_summary",
           "RESULTS_DIR", "RecordError"]

RESULTS_DIR = Path(__file__).resolve().parent.parent / "benchmarks" / "results"
_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]*$")


class RecordError(CourseError, ValueError):
    """A benchmark record that cannot be written or read (all chapters)."""


@dataclass
class RunInfo:
    """What :func:`start_run` noted when a benchmark started (all chapters)."""

    name: str
    command: str
    seeds: list[int]
    threads: int | None
    load_average_start: list[float]
    started: str
    clock_start: float
    settings: dict[str, Any] = field(default_factory=dict)
    commit: str = ""  # HEAD when the run started: the code that ran
    uncommitted_changes: bool = False  # tracked files differed from that commit when the run started


def _git(*args: str) -> str:
    try:
        return subprocess.run(["git", *args], cwd=Path(__file__).resolve().parent, capture_output=True,
                              text=True, check=True, timeout=30).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def machine_summary() -> dict[str, Any]:
    """Return the machine a benchmark ran on: architecture, cores, Python, torch, GPU (all chapters)."""
    summary: dict[str, Any] = {"arch": platform.machine(), "cores": os.cpu_count(),
                               "python": platform.python_version(), "system": platform.system()}
    try:
        import torch

        summary["torch"] = torch.__version__
        if torch.cuda.is_available():
            summary["gpu"] = torch.cuda.get_device_name(0)
            summary["gpu_count"] = torch.cuda.device_count()
    except ImportError:  # pragma: no cover - torch is a dependency
        pass
    return summary


def start_run(name: str, *, seeds: Sequence[int] = (), threads: int | None = None,
              settings: Mapping[str, Any] | None = None) -> RunInfo:
    """Return a :class:`RunInfo` for benchmark ``name`` (e.g. ``"ch12.bilstm_crf"``), noting load and clock."""
    if not _NAME.match(name):
        raise RecordError(f"benchmark name {name!r} must be lower-case letters, digits, '.', '_' or '-'")
    command = " ".join([Path(sys.executable).name, *sys.argv]) if sys.argv and sys.argv[0] else name
    return RunInfo(name=name, command=command, seeds=[int(s) for s in seeds], threads=threads,
                   load_average_start=[round(x, 2) for x in os.getloadavg()],
                   started=datetime.now(UTC).isoformat(timespec="seconds"), clock_start=time.time(),
                   settings=dict(settings or {}), commit=_git("rev-parse", "HEAD"),
                   uncommitted_changes=bool(_git("status", "--porcelain", "--untracked-files=no")))


def data_sha256(path: str | os.PathLike[str]) -> str:
    """Return the sha256 of a file, or of a folder's files (names and contents, sorted), for a record."""
    root = Path(path)
    if not root.exists():
        raise RecordError(f"{root}: no such file or folder to fingerprint for the benchmark record")
    digest = hashlib.sha256()
    files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
    for file in files:
        if root.is_dir():
            digest.update(file.relative_to(root).as_posix().encode() + b"\0")
        with file.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def write_record(run: RunInfo, *, figures: Mapping[str, Any], data: Mapping[str, str | os.PathLike[str]] = (),
                 times: Mapping[str, float] | None = None, notes: str = "",
                 results_dir: str | os.PathLike[str] | None = None) -> Path:
    """Write the JSON record of a finished benchmark run and return its path (all chapters).

    ``figures`` holds what the results pages show; ``data`` maps a name to each file or folder read (stored as
    its sha256); ``times`` adds named durations to the total wall time. The file is
    ``results/<name>.json``; a rerun replaces it (git keeps the history). It is written atomically.
    """
    folder = Path(results_dir) if results_dir is not None else RESULTS_DIR
    folder.mkdir(parents=True, exist_ok=True)
    # the commit is the one the run started from (the code it imported); a long run during which the checkout
    # moved on says so, rather than naming code that never ran
    head = _git("rev-parse", "HEAD")
    record = {
        "name": run.name,
        "command": run.command,
        "commit": run.commit or head,
        "uncommitted_changes": run.uncommitted_changes if run.commit else
        bool(_git("status", "--porcelain", "--untracked-files=no")),
        **({"commit_at_end": head} if run.commit and head and head != run.commit else {}),
        "machine": machine_summary(),
        "threads": run.threads,
        "load_average_start": run.load_average_start,
        "started": run.started,
        "finished": datetime.now(UTC).isoformat(timespec="seconds"),
        "seeds": run.seeds,
        "settings": run.settings,
        "data_sha256": {key: data_sha256(value) for key, value in dict(data).items()},
        "figures": _plain(dict(figures)),
        "times_s": {"total": round(time.time() - run.clock_start, 1),
                    **{k: round(float(v), 1) for k, v in dict(times or {}).items()}},
        "notes": notes,
    }
    path = folder / f"{run.name}.json"
    partial = path.with_suffix(".json.partial")
    partial.write_text(json.dumps(record, indent=2, sort_keys=False) + "\n", encoding="utf-8")
    partial.replace(path)
    return path


def _plain(value: Any) -> Any:
    """Return ``value`` with numpy scalars and arrays, tuples and paths made JSON-plain."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, Path):
        return value.as_posix()
    if hasattr(value, "tolist"):
        return _plain(value.tolist())
    if isinstance(value, float) and value != value:  # NaN is not JSON
        return None
    return value


def load_records(results_dir: str | os.PathLike[str] | None = None) -> dict[str, dict[str, Any]]:
    """Return every committed record by name (all chapters); a malformed file raises :class:`RecordError`."""
    folder = Path(results_dir) if results_dir is not None else RESULTS_DIR
    records: dict[str, dict[str, Any]] = {}
    for path in sorted(folder.glob("*.json")):
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise RecordError(f"{path}:{exc.lineno}: not valid JSON ({exc.msg}); rerun the benchmark that "
                              f"wrote it or restore it with git") from None
        if record.get("name") != path.stem:
            raise RecordError(f"{path}: its 'name' is {record.get('name')!r}, not {path.stem!r}")
        records[path.stem] = record
    return records
