"""Execute the book's notebooks in parallel into the book's jupyter-cache, before `jupyter-book build`.

Jupyter Book 1 executes notebooks one after another. This script runs them ``--jobs`` at a time (each kernel
with one BLAS/OpenMP thread, so two jobs use the two cores without oversubscription), exactly as myst-nb's
cache mode would (working directory = the notebook's folder, errors not allowed, the book's timeout), and
stores each executed notebook in the same cache. The build that follows then finds every notebook cached for
its current code and executes none. A notebook that raises stops the run with its error; nothing is cached for
it, so the build would execute it again (and fail the same way).

Run from the repository root (tools/course.sh does it):

    python tools/execute_notebooks.py --cache _build/.jupyter_cache --jobs 2
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import sys
import time
from pathlib import Path

import nbformat
import yaml

ROOT = Path(__file__).resolve().parents[1]
# Longest first, so that the slowest notebook starts at once (measured smoke times; others in book order).
FIRST = ("notebooks/part1_imaging/06_training_inference_evaluation.ipynb",)


def toc_notebooks() -> list[Path]:
    """Return the notebooks of _toc.yml in book order."""
    found: list[Path] = []

    def walk(node: object) -> None:
        if isinstance(node, dict):
            file = node.get("file")
            if isinstance(file, str) and (ROOT / f"{file}.ipynb").is_file():
                found.append(ROOT / f"{file}.ipynb")
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(yaml.safe_load((ROOT / "_toc.yml").read_text()))
    first = [ROOT / f for f in FIRST if ROOT / f in found]
    return first + [p for p in found if p not in first]


def _execute(job: tuple[str, int]) -> tuple[str, object, float, str | None]:
    from jupyter_cache.executors.utils import single_nb_execution

    path, timeout = job
    nb = nbformat.read(path, as_version=4)
    start = time.perf_counter()
    result = single_nb_execution(nb, cwd=str(Path(path).parent), timeout=timeout, allow_errors=False,
                                 meta_override=True)
    return path, nb, time.perf_counter() - start, result.exc_string if result.err is not None else None


def main(argv: list[str] | None = None) -> int:
    """Execute the notebooks that the cache lacks; return 0 when all ran, 1 when one raised."""
    from jupyter_cache import get_cache
    from jupyter_cache.base import CacheBundleIn

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", default="_build/.jupyter_cache")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--timeout", type=int, default=900)
    args = parser.parse_args(argv)
    cache = get_cache(args.cache)
    todo = []
    for path in toc_notebooks():
        try:
            cache.match_cache_notebook(nbformat.read(path, as_version=4))
        except KeyError:
            todo.append(path)
    if not todo:
        print("[execute] every notebook is cached for its current code", flush=True)
        return 0
    print(f"[execute] {len(todo)} notebook(s), {args.jobs} at a time, one thread each", flush=True)
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[var] = "1"  # inherited by the kernels
    failed = []
    start = time.perf_counter()
    with mp.get_context("spawn").Pool(args.jobs) as pool:
        for path, nb, seconds, error in pool.imap_unordered(_execute, [(str(p), args.timeout) for p in todo]):
            name = Path(path).relative_to(ROOT).as_posix()
            if error is not None:
                failed.append(name)
                print(f"[execute] FAILED {name} after {seconds:.1f} s\n{error}", flush=True)
                continue
            record = cache.add_nb_to_project(path)
            cache.cache_notebook_bundle(CacheBundleIn(nb, record.uri, data={"execution_seconds": seconds}),
                                        check_validity=False, overwrite=True)
            print(f"[execute] {name:66s} {seconds:7.1f} s", flush=True)
    print(f"[execute] done in {time.perf_counter() - start:.0f} s", flush=True)
    if failed:
        print(f"[execute] {len(failed)} notebook(s) raised: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
