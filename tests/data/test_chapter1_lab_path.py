"""Chapter 1's lab path through the data layer: MSD Task01 by manifest, served from loopback."""

from __future__ import annotations

import io
import tarfile

import nibabel as nib
import numpy as np
import pytest

from course_utils.data import fetch
from course_utils.data.__main__ import main as cli
from course_utils.errors import DataMissingError
from course_utils.imaging.layouts import open_mri_folder
from course_utils.imaging.sources import mri_folder_for
from course_utils.imaging.synthetic import synthetic_dataset
from course_utils.profiles import chapter_settings

from .conftest import file_entry


@pytest.fixture
def msd_archive(tmp_path):
    """A tar laid out like MSD's Task01_BrainTumour.tar (with macOS '._' files), from synthetic cases."""
    folder = synthetic_dataset("msd", 2, seed=31, root=tmp_path / "synthetic")
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for path in sorted(folder.rglob("*")):
            if path.name == ".complete":
                continue
            tar.add(path, arcname=f"Task01_BrainTumour/{path.relative_to(folder).as_posix()}", recursive=False)
        junk = tarfile.TarInfo("Task01_BrainTumour/imagesTr/._BRATS_001.nii.gz")
        junk.size = 4
        tar.addfile(junk, io.BytesIO(b"\0\0\0\0"))
    return folder, buffer.getvalue()


def test_lab_profile_reads_msd_fetched_by_manifest(server, manifests, msd_archive, monkeypatch):
    source, body = msd_archive
    url = server.add("/Task01_BrainTumour.tar", body)
    manifests("msd_task01", [file_entry(url, body, extract=True)],
              layout={"files": ["Task01_BrainTumour/dataset.json"], "dirs": ["Task01_BrainTumour/imagesTr"]},
              checks=[{"path": "Task01_BrainTumour/imagesTr", "kind": "count_files", "pattern": "BRATS_*.nii.gz", "expected": 2}])
    monkeypatch.delenv("COURSE_MRI_DIR", raising=False)
    lab = chapter_settings(1, "lab")
    with pytest.raises(DataMissingError, match="python -m course_utils.data fetch msd_task01"):
        mri_folder_for(lab)
    fetch("msd_task01", show_progress=False)
    folder = open_mri_folder(mri_folder_for(lab))
    assert folder.layout == "msd" and folder.case_ids == ["BRATS_001", "BRATS_002"]  # '._' files are gone
    case = folder.load("BRATS_002", "FLAIR")
    original = open_mri_folder(source).load("BRATS_002", "FLAIR")
    assert np.array_equal(case.image.array, original.image.array)
    assert np.array_equal(case.label.array, original.label.array)


def test_flair_layout_is_derived_from_msd(server, manifests, msd_archive, tmp_path, monkeypatch):
    source, body = msd_archive
    url = server.add("/Task01_BrainTumour.tar", body)
    manifests("msd_task01", [file_entry(url, body, extract=True)], layout={"files": ["Task01_BrainTumour/dataset.json"]})
    manifests("brats_flair_seed", [], status="unverified", derived_from="msd_task01",
              conversion="python -m course_utils.data convert brats_flair_seed",
              layout={"files": ["train/*/*_fld.nii.gz"]})
    with pytest.raises(DataMissingError, match="convert brats_flair_seed"):
        fetch("brats_flair_seed")
    assert cli(["convert", "brats_flair_seed"]) == 0
    seed = open_mri_folder(tmp_path / "data" / "brats_flair_seed" / "train")
    assert seed.layout == "seed" and seed.case_ids == ["BRATS_001", "BRATS_002"]
    converted = seed.load("BRATS_001")
    msd = open_mri_folder(source).load("BRATS_001", "FLAIR")
    assert np.array_equal(converted.image.array, msd.image.array)  # same voxels
    assert converted.image.geometry.is_close(msd.image.geometry)  # same spacing, origin, orientation
    assert np.array_equal(converted.label.array, (msd.label.array > 0).astype(np.uint8))
    seg = nib.load(tmp_path / "data" / "brats_flair_seed" / "train" / "BRATS_001" / "BRATS_001_seg.nii.gz")
    assert seg.get_data_dtype() == np.uint8
    assert fetch("brats_flair_seed").name == "brats_flair_seed"  # marker written: now a known dataset
