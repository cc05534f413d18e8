"""Time the chapter notebooks truly cold in the smoke profile and write one record.

Run (from the repository root)::

    nice -n 5 .venv/bin/python benchmarks/notebook_times.py                 # all fourteen, record notebook_times
    nice -n 5 .venv/bin/python benchmarks/notebook_times.py NOTEBOOK ...    # only these, same record name
    nice -n 5 .venv/bin/python benchmarks/notebook_times.py --merge NOTEBOOK   # add to (replace in) the record

Each notebook runs alone (one after the other, never two at once) from its own empty ``COURSE_WORK_DIR`` in a
fresh kernel. For each it records the wall seconds, the CPU seconds of the kernel's process tree (the kernel and
every process it waited for, from ``getrusage(RUSAGE_CHILDREN)`` once the kernel has exited), the load average at
the start and end and its largest sampled value, the exit state and the budget (chapter 6: 240 s, every other:
60 s). The record ``benchmarks/results/notebook_times.json`` is rewritten after every notebook, so an interrupted
run keeps what it measured. ``--merge`` keeps the notebooks of an earlier record that this run does not time.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
RECORD = "notebook_times"


def budget_s(path: Path) -> int:
    """Return the cold smoke budget of a notebook in seconds (chapter 6: 240, every other: 60)."""
    return 240 if path.name.startswith("06_") else 60


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                              check=True, timeout=30).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


class _LoadSampler(threading.Thread):
    """Sample the 1-minute load average every few seconds while a notebook runs."""

    def __init__(self, every_s: float = 5.0) -> None:
        super().__init__(daemon=True)
        self.every_s, self.samples, self._stop_event = every_s, [], threading.Event()

    def run(self) -> None:
        while not self._stop_event.is_set():
            self.samples.append(os.getloadavg()[0])
            self._stop_event.wait(self.every_s)

    def stop(self) -> list[float]:
        self._stop_event.set()
        self.join()
        return self.samples


def time_one(path: Path, timeout_s: int) -> dict:
    """Run ``path`` alone in smoke from an empty work folder; return its times, load and exit state."""
    os.environ["COURSE_PROFILE"] = "smoke"
    os.environ.setdefault("COURSE_STATIC_FIGURES", "1")
    os.environ.pop("COURSE_MRI_DIR", None)
    nb = nbformat.read(path, as_version=4)
    load_start = [round(x, 2) for x in os.getloadavg()]
    sampler = _LoadSampler()
    sampler.start()
    cpu0 = _children_cpu()
    error = ""
    with tempfile.TemporaryDirectory(prefix="nbtimes-") as work:
        os.environ["COURSE_WORK_DIR"] = work
        start = time.perf_counter()
        try:
            NotebookClient(nb, timeout=timeout_s, kernel_name="python3",
                           resources={"metadata": {"path": str(path.parent)}}).execute()
        except Exception as exc:  # noqa: BLE001 - a failing notebook is a result to record, not a crash
            error = f"{type(exc).__name__}: {str(exc).strip().splitlines()[-1] if str(exc).strip() else ''}"[:300]
        wall = time.perf_counter() - start
    cpu = _children_cpu() - cpu0  # the kernel and what it waited for, once it has exited
    samples = sampler.stop()
    load_end = [round(x, 2) for x in os.getloadavg()]
    entry = {"notebook": path.relative_to(ROOT).as_posix(), "wall_s": round(wall, 1), "cpu_s": round(cpu, 1),
             "budget_s": budget_s(path), "within_budget_wall": wall <= budget_s(path),
             "within_budget_cpu": cpu <= budget_s(path), "load_start": load_start, "load_end": load_end,
             "load_1min_max": round(max(samples + [load_end[0]]), 2),
             "load_1min_mean": round(sum(samples) / len(samples), 2) if samples else load_end[0],
             "ok": not error, "error": error, "commit": _commit(),
             "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - wall))}
    print(f"{path.name}: cold wall {wall:.1f} s, CPU {cpu:.1f} s, load {load_start[0]} -> {load_end[0]} "
          f"(max {entry['load_1min_max']}), {'ok' if not error else error}", flush=True)
    return entry


def write_template(results_dir: Path, pages: Path) -> Path:
    """Write ``pages/notebook_times.md``, the results template of the record: one row per notebook of the course,
    placeholders for the notebooks the record holds and *not run yet* for the others (the *under load* column is
    the record's largest sampled load against the machine's cores)."""
    record_path = results_dir / f"{RECORD}.json"
    record = json.loads(record_path.read_text(encoding="utf-8")) if record_path.exists() else {}
    have = (record.get("figures") or {}).get("notebooks", {})
    cores = (record.get("machine") or {}).get("cores") or os.cpu_count() or 1
    lines = ["### Notebook times, truly cold (smoke profile)", "",
             "Each notebook alone, one after the other, in a fresh kernel from an empty work folder "
             "(`.venv/bin/python benchmarks/notebook_times.py`; budget: chapter 6 at most 240 s, every other at most "
             "60 s, wall-clock on a 2-core machine). The kernel runs as a student's would: torch and NumPy on their "
             "default thread count (the record's `threads` is empty then) unless `OMP_NUM_THREADS` was set. CPU "
             "seconds are the kernel's process tree (the kernel and every process it waited for, "
             "`getrusage(RUSAGE_CHILDREN)`), so they exceed the wall time when the notebook uses both cores. The "
             "load average is the machine's 1-minute figure at the start and end and the largest sampled every 5 s "
             "during the notebook; it counts the notebook's own threads and worker processes (chapter 6 runs "
             f"nnU-Net's), so a notebook can push it past the {cores} cores by itself. *Under load* marks a largest "
             "sampled load above the cores: where other work shared the machine (the run line's load at start says "
             "so), the wall time is longer than on a quiet machine.", ""]
    if have:
        lines += [f"Run: [[{RECORD}:@run]].", ""]
    lines += ["| notebook | budget (s) | wall (s) | CPU (s) | load start / end / max | under load | wall within budget "
              "| CPU within budget | notebook finished | commit |", "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for path in sorted(p for p in (ROOT / "notebooks").rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts):
        if path.stem in have:
            b = f"[[{RECORD}:figures.notebooks.{path.stem}"
            under = "yes" if have[path.stem]["load_1min_max"] > cores else "no"
            lines.append(f"| `{path.stem}` | {b}.budget_s]] | {b}.wall_s:.1f]] | {b}.cpu_s:.1f]] | "
                         f"{b}.load_start.0:.1f]] / {b}.load_end.0:.1f]] / {b}.load_1min_max:.1f]] | {under} | "
                         f"{b}.within_budget_wall]] | {b}.within_budget_cpu]] | {b}.ok]] | {b}.commit:.7]] |")
        else:
            lines.append(f"| `{path.stem}` | {budget_s(path)} | not run yet | not run yet | - | - | - | - | - | - |")
    for old in sorted(results_dir.glob(f"{RECORD}.*.json")):  # other records of one notebook each
        name = old.stem
        figures = json.loads(old.read_text(encoding="utf-8"))["figures"]
        lines += ["", f"Another record of one notebook alone (`{name}`; a `+` after the commit: the tree had "
                  "uncommitted changes):", "", "| notebook | wall (s) | CPU (s) | load start / end | run |",
                  "| --- | --- | --- | --- | --- |"]
        if "notebooks" in figures:
            for stem in figures["notebooks"]:
                b = f"[[{name}:figures.notebooks.{stem}"
                lines.append(f"| `{stem}` | {b}.wall_s:.1f]] | {b}.cpu_s:.1f]] | {b}.load_start.0:.1f]] / "
                             f"{b}.load_end.0:.1f]] | [[{name}:@cond]] |")
        else:
            lines.append(f"| `{name.split('.', 1)[1]}` | [[{name}:figures.wall_s:.1f]] | [[{name}:figures.cpu_s:.1f]] | "
                         f"[[{name}:load_average_start.0:.1f]] / [[{name}:figures.load_average_end.0:.1f]] | "
                         f"[[{name}:@cond]] |")
        lines += ["", f"Command: [[{name}:@command]]."]
    target = pages / "notebook_times.md"
    target.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return target


def main(argv: list[str] | None = None) -> int:
    """Time each named notebook (default: all fourteen) cold, alone, writing the record after each."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", type=Path, help="notebooks to time (default: every chapter's)")
    parser.add_argument("--merge", action="store_true", help="keep the earlier record's other notebooks")
    parser.add_argument("--timeout", type=int, default=1800, help="seconds a cell may run (default 1800)")
    parser.add_argument("--write-template", action="store_true",
                        help="time nothing: write benchmarks/pages/notebook_times.md from the committed record")
    args = parser.parse_args(argv)
    from common import RESULTS_DIR, start_run, write_record

    if args.write_template:
        print(write_template(RESULTS_DIR, ROOT / "benchmarks" / "pages"))
        return 0

    paths = [p.resolve() for p in args.notebooks] or sorted(
        p for p in (ROOT / "notebooks").rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts)
    entries: dict[str, dict] = {}
    old = RESULTS_DIR / f"{RECORD}.json"
    if args.merge and old.exists():
        entries = dict(json.loads(old.read_text(encoding="utf-8"))["figures"]["notebooks"])
    threads = int(os.environ.get("OMP_NUM_THREADS", "0") or 0) or None
    run = start_run(RECORD, threads=threads, settings={
        "profile": "smoke", "work_dir": "empty per notebook (cold)", "order": "one at a time",
        "cpu": "getrusage(RUSAGE_CHILDREN) of the kernel process tree", "nice": os.nice(0)})
    for path in paths:
        entries[path.stem] = time_one(path, args.timeout)
        entries = dict(sorted(entries.items()))
        write_record(run, figures={"notebooks": entries, "count": len(entries)},
                     notes="each notebook alone, one after the other, from an empty work folder; the machine is "
                           "shared by other sessions, so see each notebook's load")
    return 0


if __name__ == "__main__":
    sys.exit(main())
