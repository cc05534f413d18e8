"""Time every chapter notebook in the smoke profile and write benchmarks/smoke_times.md.

Run: ``.venv/bin/python benchmarks/notebook_times.py [NOTEBOOK ...]`` (from the repository root). With notebooks
named, times only those, cold only (the notebook alone from an empty work folder), prints wall and CPU seconds (the
kernel's, from its rusage) with the load average, writes the record ``benchmarks/results/notebook_times.<name>.json``
and leaves ``smoke_times.md`` alone. Without, times every notebook cold and warm and rewrites ``smoke_times.md``.
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


def _children_cpu() -> float:
    import resource

    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def time_one(path: Path) -> dict[str, float]:
    """Run ``path`` alone in smoke from an empty work folder; return wall and CPU seconds and the load averages."""
    from course_utils.records import start_run, write_record

    os.environ["COURSE_PROFILE"] = "smoke"
    os.environ.setdefault("COURSE_STATIC_FIGURES", "1")
    os.environ.pop("COURSE_MRI_DIR", None)
    run = start_run(f"notebook_times.{path.stem}", threads=int(os.environ.get("OMP_NUM_THREADS", "0") or 0),
                    settings={"profile": "smoke", "work_dir": "empty (cold)"})
    cpu0 = _children_cpu()
    with tempfile.TemporaryDirectory() as work:
        os.environ["COURSE_WORK_DIR"] = work
        wall = _run(path)
    cpu = _children_cpu() - cpu0  # the kernel (and its workers) once it has exited
    load_end = [round(x, 2) for x in os.getloadavg()]
    times = {"wall_s": round(wall, 1), "cpu_s": round(cpu, 1)}
    write_record(run, figures={"notebook": path.relative_to(ROOT).as_posix(), "load_average_end": load_end, **times},
                 times=times)
    print(f"{path.name}: cold wall {wall:.1f} s, CPU {cpu:.1f} s, load {run.load_average_start} -> {load_end}",
          flush=True)
    return times


def main(argv: list[str] | None = None) -> int:
    """Time each notebook alone from an empty work folder (cold), then again with its data made (warm)."""
    named = sys.argv[1:] if argv is None else argv
    if named:
        for name in named:
            time_one(Path(name).resolve())
        return 0
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
