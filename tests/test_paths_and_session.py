from pathlib import Path

import pytest

from course_utils import start_chapter
from course_utils.data import dataset_present, require_dataset
from course_utils.errors import DataMissingError, OutputNotWritableError, ProfileError
from course_utils.paths import data_dir, ensure_writable_dir, work_dir
from course_utils.profiles import Profile
from course_utils.session import package_versions


def test_folders_follow_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path / "d"))
    monkeypatch.setenv("COURSE_WORK_DIR", str(tmp_path / "w"))
    assert data_dir() == tmp_path / "d" and work_dir() == tmp_path / "w"
    monkeypatch.delenv("COURSE_DATA_DIR")
    assert data_dir() == Path.home() / ".cache" / "biomed-ai-course" / "data"


def test_ensure_writable_dir_creates_and_proves(tmp_path):
    folder = ensure_writable_dir(tmp_path / "a" / "b")
    assert folder.is_dir() and list(folder.iterdir()) == []  # the probe file is gone


def test_folder_under_a_regular_file_is_a_clear_error(tmp_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    with pytest.raises(OutputNotWritableError) as info:
        ensure_writable_dir(blocker / "out", "synthetic dataset")
    message = str(info.value)
    assert str(blocker) in message and "is a file" in message and "COURSE_WORK_DIR" in message


def test_missing_dataset_names_the_command(monkeypatch, tmp_path):
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path))
    assert not dataset_present("msd_task01")
    with pytest.raises(DataMissingError, match=r"python -m course_utils.data fetch msd_task01"):
        require_dataset("msd_task01")
    (tmp_path / "msd_task01").mkdir()
    (tmp_path / "msd_task01" / ".course-complete").write_text("")
    assert require_dataset("msd_task01") == tmp_path / "msd_task01"


def test_start_chapter_reports_and_seeds(capsys, monkeypatch):
    monkeypatch.setenv("COURSE_PROFILE", "smoke")
    ctx = start_chapter(1)
    out = capsys.readouterr().out
    assert ctx.profile is Profile.SMOKE and ctx.settings.n_cases == 3
    for expected in ("Chapter 1: MRI volumes", "profile   smoke", "device    cpu", "torch 2.", "work dir"):
        assert expected in out
    first = ctx.rng.random(4)
    assert (start_chapter(1, verbose=False).rng.random(4) == first).all()


def test_start_chapter_rejects_bad_input(monkeypatch):
    monkeypatch.setenv("COURSE_PROFILE", "gpu")
    with pytest.raises(ProfileError, match="Unknown profile 'gpu'"):
        start_chapter(1)
    monkeypatch.setenv("COURSE_PROFILE", "smoke")
    with pytest.raises(ProfileError, match="no chapter 0"):
        start_chapter(0)


def test_unwritable_work_dir_stops_set_up(monkeypatch, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    monkeypatch.setenv("COURSE_WORK_DIR", str(blocker / "work"))
    with pytest.raises(OutputNotWritableError):
        start_chapter(1, verbose=False)


def test_package_versions_lists_installed_packages():
    versions = package_versions()
    assert versions["course_utils"] == "0.1.0" and versions["torch"].startswith("2.")
    assert "no-such-package" not in package_versions(("no-such-package",))
