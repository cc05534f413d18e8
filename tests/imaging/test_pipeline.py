"""Part I's one-step preparation: convert, plan and preprocess the active profile's data, once."""

from __future__ import annotations

import dataclasses
from unittest import mock

import pytest

from course_utils.errors import DatasetLayoutError
from course_utils.imaging import pipeline
from course_utils.profiles import chapter_settings


@pytest.fixture
def small(monkeypatch, tmp_path):
    monkeypatch.setenv("COURSE_WORK_DIR", str(tmp_path / "work"))
    monkeypatch.delenv("COURSE_MRI_DIR", raising=False)
    return dataclasses.replace(chapter_settings(2, "smoke"), n_cases=5, seed=3)


def test_prepare_is_reused_and_keyed_by_source(small, tmp_path, monkeypatch):
    first = pipeline.prepare_nnunet(small)
    assert first.dataset_id == 501 and first.raw.name == "Dataset501_BraTSFlairSeed"
    assert first.plans["configurations"]["3d_fullres"]["spacing"] == [4.0, 4.0, 4.0]
    assert str(first.folders.raw).startswith(str(tmp_path / "work" / "nnunet"))
    again = pipeline.prepare_nnunet(small)
    assert again.plans == first.plans and again.folders == first.folders
    other = pipeline.prepare_nnunet(dataclasses.replace(small, seed=4))
    assert other.folders != first.folders  # another source folder: its own nnU-Net folders


def test_regions_need_msd(small, monkeypatch):
    seed_source = pipeline.part1_source(small)
    monkeypatch.setenv("COURSE_MRI_DIR", str(seed_source))
    assert pipeline.part1_source(small) == seed_source
    regions_source = pipeline.part1_source(small, regions=True)
    assert (regions_source / "dataset.json").is_file()  # smoke regions: synthetic MSD, whatever COURSE_MRI_DIR says
    with mock.patch.object(pipeline, "part1_source", return_value=seed_source), \
            pytest.raises(DatasetLayoutError, match="seed layout"):
        pipeline.prepare_nnunet(small, regions=True)
