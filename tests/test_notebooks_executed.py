"""Every chapter notebook executed once, without error, for its current code (the book build's run).

tools/course.sh builds the book first (every notebook executed in smoke through jupyter-cache) and then runs
pytest with ``COURSE_BOOK_CACHE`` pointing at that cache. nbval re-runs only the notebooks whose second run
covers something new (tests/conftest.py, ``NBVAL_SECOND_RUN``); this test checks that the build really
executed the others: a cache record must match each notebook's current code cells, which jupyter-cache only
writes after an execution that raised nothing.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]


def _executor():
    """The pre-execution tool of the book build (tools/execute_notebooks.py), which owns the toc walk."""
    spec = importlib.util.spec_from_file_location("execute_notebooks", ROOT / "tools" / "execute_notebooks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def toc_notebooks() -> list[Path]:
    """Return the notebooks named in _toc.yml, in book order."""
    return sorted(_executor().toc_notebooks())


def test_every_notebook_is_in_the_table_of_contents():
    listed = {p.resolve() for p in toc_notebooks()}
    on_disk = {p.resolve() for p in (ROOT / "notebooks").rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts}
    assert on_disk - listed == set(), "notebooks the book would never execute (add them to _toc.yml)"


@pytest.mark.parametrize("path", toc_notebooks(), ids=lambda p: p.stem)
def test_the_book_build_executed_it(path: Path):
    cache_path = os.environ.get("COURSE_BOOK_CACHE")
    if not cache_path:
        pytest.skip("COURSE_BOOK_CACHE is not set: run through `make test`, which builds the book first")
    from jupyter_cache import get_cache

    cache = get_cache(cache_path)
    nb = nbformat.read(path, as_version=4)
    try:
        record = cache.match_cache_notebook(nb)
    except KeyError:
        pytest.fail(f"{path.relative_to(ROOT)} has no successful execution in {cache_path} for its current code: "
                    "the book build did not execute it, or it raised (see the build log)")
    seconds = record.data.get("execution_seconds")
    assert seconds is not None and seconds > 0
