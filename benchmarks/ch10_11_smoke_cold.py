"""Chapters 10 and 11 in the smoke profile, each alone from an empty work folder: wall and CPU seconds (issue 28).

A chapter run "cold" finds none of the caches another chapter would have built (chapter 11 then pretrains chapter
10's small BERT, adapts it with LoRA and trains chapter 9's two skip-gram models itself). Each notebook executes in
a fresh kernel with a fresh ``COURSE_WORK_DIR``; the CPU seconds are the kernel's (a child process, counted when
it exits) plus this process's, and the load average is noted before and after, since on a shared machine the wall
time depends on it. The record also keeps the values the notebook glued into its prose. One thread per kernel, as CI runs notebooks. Writes ``benchmarks/results/chNN.smoke_cold.json``.

    .venv/bin/python benchmarks/ch10_11_smoke_cold.py [10] [11] [--save-executed DIR]
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

NOTEBOOKS = {10: "notebooks/part2_words/10_mlm_lora.ipynb", 11: "notebooks/part2_words/11_exploring_embeddings.ipynb"}


def _cpu() -> float:
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def glued_values(nb) -> dict[str, str]:
    """Return the values the executed notebook glued into its prose (myst-nb ``glue``), by name, as text."""
    values = {}
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            name = output.get("metadata", {}).get("scrapbook", {}).get("name")
            text = output.get("data", {}).get("application/papermill.record/text/plain")
            if name and text is not None:
                values[name] = text.strip("'\"")
    return values


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("chapters", nargs="*", type=int, default=[10, 11], choices=sorted(NOTEBOOKS))
    parser.add_argument("--save-executed", type=Path, default=None, help="folder to write the executed notebooks to")
    args = parser.parse_args(argv)

    import nbformat
    from common import start_run, write_record
    from nbclient import NotebookClient

    os.environ.update(COURSE_PROFILE="smoke", COURSE_STATIC_FIGURES="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    for chapter in args.chapters:
        path = ROOT / NOTEBOOKS[chapter]
        run = start_run(f"ch{chapter}.smoke_cold", threads=1, settings={"notebook": NOTEBOOKS[chapter],
                                                                        "profile": "smoke"})
        with tempfile.TemporaryDirectory(prefix=f"ch{chapter}-cold-") as work:
            os.environ["COURSE_WORK_DIR"] = work
            nb = nbformat.read(path, as_version=4)
            cpu0, wall0 = _cpu(), time.perf_counter()
            NotebookClient(nb, timeout=1800, kernel_name="python3",
                           resources={"metadata": {"path": str(path.parent)}}).execute()
            wall, cpu = time.perf_counter() - wall0, _cpu() - cpu0
        load_end = [round(x, 2) for x in os.getloadavg()]
        if args.save_executed:
            args.save_executed.mkdir(parents=True, exist_ok=True)
            nbformat.write(nb, args.save_executed / path.name)
        print(f"chapter {chapter}: {wall:.1f} s wall, {cpu:.1f} s CPU; load {run.load_average_start[0]:.1f} at start, "
              f"{load_end[0]:.1f} at end", flush=True)
        record = write_record(run, figures={"wall_s": round(wall, 1), "cpu_s": round(cpu, 1),
                                            "load_average_end": load_end, "budget_s": 60,
                                            "glued": glued_values(nb)},
                              times={"notebook_wall": wall, "notebook_cpu": cpu})
        print(f"record: {record}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
