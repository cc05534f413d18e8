import dataclasses

import pytest

from course_utils.errors import ProfileError
from course_utils.profiles import CHAPTERS, Profile, chapter_settings, resolve_profile


def test_explicit_profile_wins_and_is_case_insensitive():
    choice = resolve_profile(environ={"COURSE_PROFILE": " Lab "}, gpu_available=lambda: False)
    assert choice.profile is Profile.LAB
    assert "COURSE_PROFILE" in choice.reason


def test_unknown_profile_names_the_choices():
    with pytest.raises(ProfileError, match=r"Unknown profile 'fast'.*smoke, lab, full"):
        resolve_profile(environ={"COURSE_PROFILE": "fast"})


def test_default_is_smoke_without_gpu():
    choice = resolve_profile(("msd_task01",), environ={}, gpu_available=lambda: False, dataset_present=lambda n: True)
    assert choice.profile is Profile.SMOKE
    assert "no GPU" in choice.reason


def test_default_is_lab_with_gpu_and_data():
    choice = resolve_profile(("msd_task01",), environ={}, gpu_available=lambda: True, dataset_present=lambda n: True)
    assert choice.profile is Profile.LAB


def test_gpu_without_data_falls_back_and_names_the_fetch_command():
    choice = resolve_profile(("msd_task01", "cord19"), environ={}, gpu_available=lambda: True,
                             dataset_present=lambda n: n == "cord19")
    assert choice.profile is Profile.SMOKE
    assert "python -m course_utils.data fetch msd_task01" in choice.reason
    assert "fetch cord19" not in choice.reason


def test_default_uses_the_real_gpu_and_data_checks(clean_env, tmp_path):
    clean_env.setenv("COURSE_DATA_DIR", str(tmp_path))
    assert resolve_profile(("msd_task01",)).profile is Profile.SMOKE  # no GPU on CPU machines, no data anyway


@pytest.mark.parametrize("chapter", sorted(CHAPTERS))
def test_every_chapter_has_settings_for_every_profile(chapter):
    smoke, lab, full = (chapter_settings(chapter, p) for p in Profile)
    assert dataclasses.is_dataclass(smoke) and type(smoke) is type(lab) is type(full)
    with pytest.raises(dataclasses.FrozenInstanceError):
        smoke.seed = 0  # settings are constants


def test_smoke_is_smaller_than_full_for_nnunet():
    smoke, full = chapter_settings(6, "smoke"), chapter_settings(6, "full")
    assert smoke.num_epochs * smoke.iterations_per_epoch < full.num_epochs * full.iterations_per_epoch
    assert full.num_epochs == 1000 and full.iterations_per_epoch == 250 and full.folds == (0, 1, 2, 3, 4)
    assert chapter_settings(1, "smoke").spacing_mm == (4.0, 4.0, 4.0)


def test_unknown_chapter():
    with pytest.raises(ProfileError, match="no chapter 99"):
        chapter_settings(99, "smoke")
