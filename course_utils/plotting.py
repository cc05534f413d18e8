"""The course's shared figure style (every chapter). Figure functions live beside the code they show."""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator
from typing import Any

import matplotlib as mpl

__all__ = ["apply_style", "LABEL_COLOURS", "STYLE", "keep_matplotlib_backend"]

#: Colours of segmentation labels: MSD Task01 values 1-3 (the seed's whole tumour uses 1).
LABEL_COLOURS = {1: "#ffd92f", 2: "#e7298a", 3: "#1b9e77", 4: "#7570b3"}

STYLE: dict[str, Any] = {
    "figure.dpi": 100,
    "savefig.dpi": 110,
    "figure.facecolor": "white",
    "axes.titlesize": 10,
    "axes.labelsize": 9,
    "xtick.labelsize": 8,
    "ytick.labelsize": 8,
    "legend.fontsize": 8,
    "image.cmap": "gray",
    "image.interpolation": "nearest",
    "axes.spines.top": False,
    "axes.spines.right": False,
}


def apply_style() -> None:
    """Apply the course's matplotlib style (called by every figure function; idempotent)."""
    mpl.rcParams.update(STYLE)


@contextlib.contextmanager
def keep_matplotlib_backend() -> Iterator[None]:
    """Context manager: restore matplotlib's backend and settings after code that changes them (nnU-Net's logger
    sets the ``agg`` backend, which would stop a notebook from showing figures, and seaborn's style with fonts
    2.5 times larger whenever it draws its progress plot)."""
    backend = mpl.get_backend()
    settings = {k: v for k, v in mpl.rcParams.items() if k != "backend"}
    try:
        yield
    finally:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # deprecated keys are copied back as they were
            mpl.rcParams.update(settings)
        if mpl.get_backend() != backend:
            shell = None
            try:
                from IPython import get_ipython

                shell = get_ipython()
            except ImportError:  # pragma: no cover - IPython is pinned
                pass
            if shell is not None and "inline" in backend:
                shell.run_line_magic("matplotlib", "inline")  # also re-registers the hook that shows figures
            else:
                mpl.use(backend)
