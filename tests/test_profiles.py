import dataclasses

import pytest

from course_utils.errors import ProfileError
from course_utils.profiles import CHAPTERS, Profile, chapter_settings, resolve_profile, schedule_override_active


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


def test_schedule_override_by_chapter_and_part_one_flat_form(monkeypatch):
    monkeypatch.setenv("COURSE_SCHEDULE_OVERRIDE",
                       '{"num_epochs": 2, "folds": [0], "10": {"max_documents": 40, "epochs": 0.2}}')
    assert schedule_override_active()
    nn = chapter_settings(6, "lab")
    assert (nn.num_epochs, nn.folds) == (2, (0,))  # the flat form is Part I's
    mlm = chapter_settings(10, "lab")
    assert (mlm.max_documents, mlm.epochs, mlm.model) == (40, 0.2, "biomedbert")
    assert chapter_settings(12, "lab") == CHAPTERS[12].settings[Profile.LAB]  # other chapters unchanged


@pytest.mark.parametrize("text, message", [
    ('{"epochs": 1}', "give the others by chapter"),
    ('{"10": {"model": "bert-base-uncased"}}', "never the data, model or seed"),
    ('{"99": {}}', "must name a chapter"),
    ('[1]', "must be a JSON object"),
    ("{nope", "is not JSON"),
])
def test_schedule_override_refuses_what_is_not_a_schedule(monkeypatch, text, message):
    monkeypatch.setenv("COURSE_SCHEDULE_OVERRIDE", text)
    with pytest.raises(ProfileError, match=message):
        chapter_settings(10, "lab")


def test_lab_models_are_named_by_their_manifests():
    from course_utils.data import list_manifests, load_manifest

    names = {chapter_settings(7, "lab").pretrained_tokenizer, chapter_settings(10, "lab").model,
             chapter_settings(12, "lab").model, chapter_settings(13, "lab").model,
             chapter_settings(14, "lab").model, chapter_settings(14, "full").comparator}
    assert names == {"bert_base_uncased", "biomedbert", "bert_base_chinese", "sapbert"}
    for name in names:
        assert name in list_manifests() and load_manifest(name).kind == "model"
        chapters = [c for c in CHAPTERS.values() if name in c.datasets]
        assert chapters, f"{name} is in no chapter's datasets, so the profile never checks it is present"
