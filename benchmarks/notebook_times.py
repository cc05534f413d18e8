"""Time every chapter notebook in the smoke profile and write benchmarks/smoke_times.md.

Run: ``.venv/bin/python benchmarks/notebook_times.py`` (from the repository root).
"""

from __future__ import annotations

import os
import platform
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]


def _run(path: Path) -> float:
    nb = nbformat.read(path, as_version=4)
    start = time.perf_counter()
    NotebookClient(nb, timeout=900, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}).execute()
    return time.perf_counter() - start


def main() -> int:
    """Time each notebook alone from an empty work folder (cold), then again with its data made (warm)."""
    os.environ["COURSE_PROFILE"] = "smoke"
    os.environ.setdefault("COURSE_STATIC_FIGURES", "1")
    os.environ.pop("COURSE_MRI_DIR", None)
    rows = []
    for path in sorted((ROOT / "notebooks").rglob("*.ipynb")):
        if ".ipynb_checkpoints" in path.parts:
            continue
        with tempfile.TemporaryDirectory() as work:
            os.environ["COURSE_WORK_DIR"] = work
            cold = _run(path)
            warm = _run(path)
        rows.append((path.relative_to(ROOT).as_posix(), cold, warm))
        print(f"{path.name}: cold {cold:.1f} s, warm {warm:.1f} s", flush=True)
    machine = f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    lines = ["# Smoke times of the chapter notebooks", "",
             f"Measured {date.today()} on {machine} with `python benchmarks/notebook_times.py`.",
             "Cold: the notebook alone, from an empty COURSE_WORK_DIR (it makes its synthetic data, converts,",
             "plans and trains what it needs). Warm: run again with that work folder. Kernel start included.", "",
             "| notebook | cold (s) | warm (s) |", "| --- | --- | --- |"]
    lines += [f"| {name} | {cold:.1f} | {warm:.1f} |" for name, cold, warm in rows]
    (ROOT / "benchmarks" / "smoke_times.md").write_text("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
