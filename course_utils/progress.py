"""Progress bars (every long loop in the package).

``tqdm.auto`` gives a widget bar in JupyterLab and a text bar in a terminal. When the book is built
(``COURSE_STATIC_FIGURES=1``) a text bar is used instead, because a widget has no state in a static page.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any, TypeVar

__all__ = ["progress", "progress_bar", "static_figures"]

T = TypeVar("T")


def static_figures() -> bool:
    """Return True when outputs must be static (book build, CI): ``COURSE_STATIC_FIGURES=1``."""
    return os.environ.get("COURSE_STATIC_FIGURES", "").strip().lower() in {"1", "true", "yes"}


def progress(iterable: Iterable[T], **kwargs: Any) -> Iterable[T]:
    """Return ``iterable`` wrapped in a tqdm progress bar (widget in Jupyter, text elsewhere)."""
    if static_figures():
        from tqdm.std import tqdm
    else:
        from tqdm.auto import tqdm
    kwargs.setdefault("dynamic_ncols", True)
    return tqdm(iterable, **kwargs)


def progress_bar(total: int, **kwargs: Any) -> Any:
    """Return a tqdm bar of ``total`` steps to advance by hand with ``update`` (widget in Jupyter, text elsewhere)."""
    if static_figures():
        from tqdm.std import tqdm
    else:
        from tqdm.auto import tqdm
    kwargs.setdefault("dynamic_ncols", True)
    return tqdm(total=total, **kwargs)
