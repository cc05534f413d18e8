"""The landing page's course map (tools/course_map.py): drawn from its data, matching the course's chapters."""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _tool():
    spec = importlib.util.spec_from_file_location("course_map", ROOT / "tools" / "course_map.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("course_map", module)
    spec.loader.exec_module(module)
    return module


CM = _tool()


def test_the_map_has_every_chapter_in_its_part_and_its_edges_run_forward():
    from course_utils.profiles import CHAPTERS

    assert set(CM.CHAPTERS) == set(CHAPTERS) == set(range(1, 15))
    toc = (ROOT / "_toc.yml").read_text()
    for name, (lo, hi) in CM.PARTS.items():
        assert name in toc  # the parts are the book's captions
        for chapter in range(lo, hi + 1):
            assert re.search(rf"notebooks/part\d_\w+/{chapter:02d}_", toc)
    for a, b in CM.NEEDS:
        assert a < b and CM._part(a) == CM._part(b)  # within a part, from an earlier chapter
    for a, b in CM.HELPS:
        assert a < b
    for chapter in CM.CHAPTERS:  # a chapter one cannot start from has something to read first
        assert chapter in CM.STARTS or any(b == chapter for _a, b in CM.NEEDS), chapter
    assert {1, 7} <= set(CM.STARTS)


def test_the_committed_figure_is_what_the_data_draws():
    assert CM.render() == CM.render()  # no date, fixed ids: the same data gives the same bytes
    assert (ROOT / "book" / "_static" / "course_map.svg").read_bytes() == CM.render(), \
        "run .venv/bin/python tools/course_map.py and commit book/_static/course_map.svg"
    assert "course_map.svg" in (ROOT / "book" / "intro.md").read_text()
