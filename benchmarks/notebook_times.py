"""Time every chapter notebook in the smoke profile and write benchmarks/smoke_times.md.

Run: ``.venv/bin/python benchmarks/notebook_times.py`` (from the repository root).
"""

from __future__ import annotations

import os
import platform
import sys
import time
from datetime import date
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    os.environ["COURSE_PROFILE"] = "smoke"
    os.environ.setdefault("COURSE_STATIC_FIGURES", "1")
    rows = []
    for path in sorted((ROOT / "notebooks").rglob("*.ipynb")):
        if ".ipynb_checkpoints" in path.parts:
            continue
        nb = nbformat.read(path, as_version=4)
        start = time.perf_counter()
        NotebookClient(nb, timeout=900, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}).execute()
        seconds = time.perf_counter() - start
        rows.append((path.relative_to(ROOT).as_posix(), seconds))
        print(f"{path.name}: {seconds:.1f} s", flush=True)
    machine = f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    lines = ["# Smoke times of the chapter notebooks", "",
             f"Measured {date.today()} on {machine} with `python benchmarks/notebook_times.py`",
             "(kernel start included; synthetic data cached in COURSE_WORK_DIR after the first run).", "",
             "| notebook | seconds |", "| --- | --- |"]
    lines += [f"| {name} | {sec:.1f} |" for name, sec in rows]
    (ROOT / "benchmarks" / "smoke_times.md").write_text("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
