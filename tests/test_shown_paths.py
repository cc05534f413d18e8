"""No path of the machine shows (issue 30): the set-up report's folders, and the book's rewrite of every output."""

from __future__ import annotations

import sys
from pathlib import Path

from course_utils.session import shown_path, start_chapter

ROOT = Path(__file__).resolve().parents[1]


def test_shown_path_is_relative_to_the_course_or_home(tmp_path):
    course, home = tmp_path / "course", tmp_path / "home"
    assert shown_path(course / "_build" / "work", course, home) == "<course>/_build/work"
    assert shown_path(home / ".cache" / "data", course, home) == "~/.cache/data"
    assert shown_path(course, course, home) == "<course>"
    assert shown_path(Path("/srv/lab/data/mri"), course, home) == ".../data/mri"


def test_the_setup_report_prints_no_absolute_folder(capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("COURSE_PROFILE", "smoke")
    monkeypatch.setenv("COURSE_WORK_DIR", str(ROOT / "_build" / "work"))
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path / "somewhere" / "data"))
    start_chapter(1)
    out = capsys.readouterr().out
    assert "work dir  <course>/_build/work" in out
    assert "data dir  .../somewhere/data" in out
    assert str(tmp_path) not in out and str(ROOT) not in out


def test_the_book_rewrites_the_building_machines_folders(monkeypatch):
    sys.path.insert(0, str(ROOT / "book" / "_ext"))
    try:
        import course_book
    finally:
        sys.path.remove(str(ROOT / "book" / "_ext"))
    monkeypatch.setenv("COURSE_REAL_DATA", "/data/shared/real")
    paths = course_book.machine_paths(Path("/srv/build/course"))
    rewrite = lambda text: course_book._without_machine_paths(text, paths)  # noqa: E731
    assert rewrite("cd /srv/build/course && ls /srv/build/course/_build/work") == "cd <course> && ls <course>/_build/work"
    assert rewrite("'/data/shared/real/NCBI'") == "'$COURSE_REAL_DATA/NCBI'"
    assert rewrite("/srv/build/course2/x") == "/srv/build/course2/x"  # another folder that only starts alike
    if len(Path.home().resolve().parts) > 1:
        assert rewrite(f"{Path.home().resolve()}/.cache/data") == "~/.cache/data"
