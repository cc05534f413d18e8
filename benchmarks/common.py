"""What every benchmark shares: the data folder, the argument blocks, the threads, the record (all chapters).

A benchmark builds its parser with :func:`add_common` (``--threads``, ``--seed``/``--seeds``, ``--device``,
``--out``, ``--data``: one definition each), calls :func:`begin` once its arguments are parsed (sets the torch
threads, notes the load and the clock through ``course_utils.records.start_run``) and ends with :func:`finish`,
which writes the record ``benchmarks/results/<name>.json`` (or into ``--out FOLDER``) through
``course_utils.records.write_record``, the one record writer.
"""

from __future__ import annotations

import argparse
import os
import resource
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from course_utils.records import RESULTS_DIR, start_run, write_record  # the one record writer

__all__ = ["RESULTS_DIR", "add_common", "begin", "cpu_seconds", "data_root", "finish", "start_run", "write_record"]


def data_root() -> Path:
    """Return the real-data folder: ``$COURSE_REAL_DATA``, else ``../shared/data``."""
    return Path(os.environ.get("COURSE_REAL_DATA", "").strip() or "../shared/data")


def cpu_seconds() -> float:
    """Return the user + system CPU seconds of this process so far."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def add_common(parser: argparse.ArgumentParser, *, threads: int | None = 2, seed: int | None = None,
               seeds: Sequence[int] | None = None, device: bool = False, out: bool = False,
               data: bool = False, seed_help: str = "") -> argparse.ArgumentParser:
    """Add the shared options to ``parser`` and return it (each option defined here only)."""
    if threads is not None:
        parser.add_argument("--threads", type=int, default=threads, help=f"torch threads (default {threads})")
    if seed is not None:
        parser.add_argument("--seed", type=int, default=seed, help=seed_help or f"random seed (default {seed})")
    if seeds is not None:
        parser.add_argument("--seeds", type=int, nargs="+", default=list(seeds),
                            help=seed_help or f"one run per seed (default {' '.join(map(str, seeds))})")
    if device:
        parser.add_argument("--device", default="cpu",
                            help="where the models run: cpu (the recorded figures), cuda, cuda:1, mps")
    if out:
        parser.add_argument("--out", type=Path, default=None,
                            help="write the record into this folder instead of benchmarks/results/")
    if data:
        parser.add_argument("--data", type=Path, default=None,
                            help="real-data folder (default: $COURSE_REAL_DATA, else ../shared/data)")
    return parser


def begin(name: str, args: argparse.Namespace, *, seeds: Sequence[int] | None = None,
          settings: Mapping[str, Any] | None = None):
    """Set the torch threads from ``args`` and return the run's ``RunInfo`` (load, clock, command)."""
    threads = getattr(args, "threads", None)
    if threads:
        import torch

        torch.set_num_threads(threads)
    if seeds is None:
        seeds = getattr(args, "seeds", None) or ([args.seed] if getattr(args, "seed", None) is not None else [])
    plain = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items() if k != "handler"}
    return start_run(name, seeds=seeds, threads=threads, settings={**plain, **dict(settings or {})})


def finish(run, figures: Mapping[str, Any], *, data: Mapping[str, Any] = (), times: Mapping[str, float] | None = None,
           notes: str = "", out: Path | None = None) -> Path:
    """Write the run's record (into ``out`` when given) through ``course_utils.records``; print and return its path."""
    path = write_record(run, figures=figures, data=data, times=times, notes=notes, results_dir=out)
    print(f"record: {path}", flush=True)
    return path
