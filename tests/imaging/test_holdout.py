"""Chapter 6: the held-out test set (a committed MSD Task01 list; a fixed fifth of any other folder)."""

from __future__ import annotations

import json
import random
import shutil
from unittest import mock

import numpy as np
import pytest

from course_utils.errors import DatasetLayoutError
from course_utils.imaging import nnunet_data as nd
from course_utils.imaging import nnunet_infer as ni
from course_utils.imaging import pipeline
from course_utils.imaging.holdout import HELDOUT_FRACTION, holdout_ids_for, msd_task01_test_ids
from course_utils.imaging.io import read_volume
from course_utils.imaging.layouts import open_mri_folder
from course_utils.imaging.synthetic import synthetic_dataset
from course_utils.profiles import chapter_settings


def test_committed_msd_list():
    ids = msd_task01_test_ids()
    assert len(ids) == 97 == len(set(ids)) and list(ids) == sorted(ids)  # a fifth of MSD's 484 labelled cases
    numbers = [int(i.removeprefix("BRATS_")) for i in ids]
    assert all(1 <= n <= 484 for n in numbers) and all(i == f"BRATS_{n:03d}" for i, n in zip(ids, numbers))
    msd = [f"BRATS_{n:03d}" for n in range(1, 485)]
    assert holdout_ids_for(msd) == ids
    assert holdout_ids_for(msd[:30]) == tuple(i for i in ids if int(i[-3:]) <= 30)  # a part of MSD: its share


def test_other_folders_hold_out_a_fixed_fifth():
    ids = [f"patient{n:02d}" for n in range(20)]
    held = holdout_ids_for(ids)
    assert len(held) == round(HELDOUT_FRACTION * 20) == 4 and set(held) <= set(ids)
    shuffled = ids[:]
    random.Random(0).shuffle(shuffled)
    assert holdout_ids_for(shuffled) == held  # independent of listing order
    assert holdout_ids_for(ids[:4]) == ()  # too few to spare any
    assert holdout_ids_for(ids, fraction=0.0) == ()
    with pytest.raises(ValueError, match="fraction"):
        holdout_ids_for(ids, fraction=1.0)


@pytest.fixture(scope="module")
def seed6(tmp_path_factory):
    return synthetic_dataset("seed", 6, seed=5, root=tmp_path_factory.mktemp("seed6"))


def test_seed_conversion_holds_test_cases_out(seed6, tmp_path):
    folders = nd.nnunet_folders(tmp_path / "nn")
    out = nd.convert_seed_to_nnunet(seed6, folders, test_ids=["case_002", "case_005"])
    assert sorted(p.name for p in (out / "imagesTr").iterdir()) == [f"case_00{i}_0000.nii.gz" for i in (1, 3, 4, 6)]
    assert sorted(p.name for p in (out / "imagesTs").iterdir()) == ["case_002_0000.nii.gz", "case_005_0000.nii.gz"]
    assert sorted(p.name for p in (out / "labelsTs").iterdir()) == ["case_002.nii.gz", "case_005.nii.gz"]
    assert json.loads((out / "dataset.json").read_text())["numTraining"] == 4
    source = open_mri_folder(seed6).load("case_005")
    assert np.array_equal(read_volume(out / "labelsTs" / "case_005.nii.gz").array, source.label.array)
    mtime = (out / "dataset.json").stat().st_mtime_ns
    assert nd.convert_seed_to_nnunet(seed6, folders, test_ids=["case_005", "case_002"]) == out
    assert (out / "dataset.json").stat().st_mtime_ns == mtime  # same held-out cases: reused
    nd.convert_seed_to_nnunet(seed6, folders)  # none held out now: converted again
    assert not (out / "imagesTs").exists() and len(list((out / "imagesTr").iterdir())) == 6
    with pytest.raises(DatasetLayoutError, match="held-out test ids not found.*case_009"):
        nd.convert_seed_to_nnunet(seed6, folders, test_ids=["case_009"])


def test_msd_conversions_hold_test_cases_out(msd_folder, tmp_path):
    folders = nd.nnunet_folders(tmp_path / "nn")
    flair = nd.convert_msd_to_nnunet(msd_folder, folders, test_ids=["BRATS_002"])
    assert sorted(p.name for p in (flair / "imagesTr").iterdir()) == ["BRATS_001_0000.nii.gz", "BRATS_003_0000.nii.gz"]
    assert [p.name for p in (flair / "imagesTs").iterdir()] == ["BRATS_002_0000.nii.gz"]
    assert set(np.unique(read_volume(flair / "labelsTs" / "BRATS_002.nii.gz").array)) <= {0, 1}
    regions = nd.convert_msd_to_nnunet(msd_folder, folders, regions=True, test_ids=["BRATS_002"])
    assert sorted(p.name for p in (regions / "imagesTs").iterdir()) == [f"BRATS_002_000{c}.nii.gz" for c in range(4)]
    assert [p.name for p in (regions / "labelsTs").iterdir()] == ["BRATS_002.nii.gz"]
    assert not any("BRATS_004" in p.name for p in regions.rglob("*.nii.gz"))  # MSD's unlabelled test case: left out
    assert json.loads((regions / "dataset.json").read_text())["numTraining"] == 2


def test_real_folders_are_split_and_heldout_cases_read_back(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_WORK_DIR", str(tmp_path / "work"))
    synthetic = synthetic_dataset("seed", 6, seed=31, root=tmp_path / "syn")
    real = tmp_path / "hospital"
    shutil.copytree(synthetic, real)
    (real / "synthetic_truth.json").unlink()  # no planted truth: treated as real data
    monkeypatch.setenv("COURSE_MRI_DIR", str(real))
    settings = chapter_settings(6, "smoke")
    assert pipeline.heldout_ids(synthetic) == ()
    held = pipeline.heldout_ids(real)
    assert held == holdout_ids_for([f"case_00{i}" for i in range(1, 7)]) and len(held) == 1
    prepared = pipeline.prepare_nnunet(settings)
    assert not any(held[0] in p.name for p in (prepared.raw / "imagesTr").iterdir())
    cases = ni.heldout_cases(prepared, settings)
    assert [c.case_id for c in cases] == list(held)
    assert cases[0].images == (prepared.raw / "imagesTs" / f"{held[0]}_0000.nii.gz",)


def test_heldout_cases_need_a_test_set(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_WORK_DIR", str(tmp_path / "work"))
    real = tmp_path / "hospital"
    shutil.copytree(synthetic_dataset("seed", 3, seed=32, root=tmp_path / "syn"), real)
    (real / "synthetic_truth.json").unlink()
    monkeypatch.setenv("COURSE_MRI_DIR", str(real))
    folders = nd.nnunet_folders(tmp_path / "nn")
    raw = nd.convert_seed_to_nnunet(real, folders)  # three cases: too few to hold any out
    prepared = pipeline.PreparedDataset(501, folders, raw, {})
    with pytest.raises(DatasetLayoutError, match="no held-out test cases"):
        ni.heldout_cases(prepared, chapter_settings(6, "smoke"))


def test_no_heldout_case_reaches_any_imagestr(tmp_path, monkeypatch):
    """Chapter 2's regions conversion and prepare_nnunet write one conversion, and it holds the test cases out."""
    monkeypatch.setenv("COURSE_WORK_DIR", str(tmp_path / "work"))
    real = tmp_path / "hospital_msd"
    shutil.copytree(synthetic_dataset("msd", 6, seed=33, root=tmp_path / "syn"), real)
    (real / "synthetic_truth.json").unlink()  # treated as real data: a fixed fifth is held out
    monkeypatch.setenv("COURSE_MRI_DIR", str(real))
    settings = chapter_settings(2, "smoke")
    held = pipeline.heldout_ids(real)
    assert len(held) == 1
    source = pipeline.part1_source(settings, regions=True)
    assert source == real  # an MSD-layout COURSE_MRI_DIR serves the regions task too
    folders = pipeline.nnunet_folders_for(source)
    regions = nd.convert_msd_to_nnunet(source, folders, regions=True, test_ids=held)  # chapter 2's call
    marker = (regions / ".course-complete").read_text()
    monkeypatch.setattr(pipeline, "plan_and_preprocess", lambda *a, **k: {})
    with mock.patch.object(nd, "_msd_regions", side_effect=AssertionError("converted again")):
        assert pipeline.prepare_nnunet(settings, regions=True).raw == regions  # reused, not re-converted
        assert nd.convert_msd_to_nnunet(source, folders, regions=True) == regions  # default: the same held-out ids
    assert (regions / ".course-complete").read_text() == marker
    flair = pipeline.prepare_nnunet(settings).raw
    assert flair != regions
    for images in (tmp_path / "work").rglob("imagesTr"):
        assert not any(p.name.startswith(held[0]) for p in images.iterdir()), images
    for raw in (regions, flair):
        assert sorted(p.name[: len(held[0])] for p in (raw / "imagesTs").iterdir())[0] == held[0]
        assert json.loads((raw / "dataset.json").read_text())["numTraining"] == 5
    assert nd.convert_msd_to_nnunet(source, folders, test_ids=()) == flair  # explicit (): every case trains
    assert len(list((flair / "imagesTr").iterdir())) == 6
