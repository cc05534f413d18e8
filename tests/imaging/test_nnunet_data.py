"""Chapter 2: conversion into nnU-Net's raw format, integrity checks, and planning through nnU-Net's API."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from course_utils.errors import DatasetLayoutError, GeometryMismatchError, LabelValueError, NotThreeDimensionalError
from course_utils.imaging import nnunet_data as nd
from course_utils.imaging.io import read_volume
from course_utils.imaging.layouts import open_mri_folder
from course_utils.imaging.synthetic import synthetic_dataset


@pytest.fixture
def folders(tmp_path):
    return nd.nnunet_folders(tmp_path / "nnunet")


@pytest.fixture(scope="module")
def seed6(tmp_path_factory):
    return synthetic_dataset("seed", 6, seed=5, root=tmp_path_factory.mktemp("seed6"))


def _copy(src, dst):
    shutil.copytree(src, dst)
    return dst


def test_seed_conversion_round_trip(seed6, folders):
    out = nd.convert_seed_to_nnunet(seed6, folders)
    assert out.name == "Dataset501_BraTSFlairSeed"
    meta = json.loads((out / "dataset.json").read_text())
    assert meta["channel_names"] == {"0": "FLAIR"} and meta["labels"] == {"background": 0, "whole tumour": 1}
    assert meta["numTraining"] == 6 and meta["name"] == "BraTSFlairSeed"
    source = open_mri_folder(seed6).load("case_003")
    image = read_volume(out / "imagesTr" / "case_003_0000.nii.gz")
    label = read_volume(out / "labelsTr" / "case_003.nii.gz")
    assert np.array_equal(image.array, source.image.array) and np.array_equal(label.array, source.label.array)
    assert image.geometry.is_close(source.image.geometry) and image.geometry.orientation == source.image.geometry.orientation
    assert nd.convert_seed_to_nnunet(seed6, folders) == out  # idempotent


def test_msd_conversions(msd_folder, folders):
    flair = nd.convert_msd_to_nnunet(msd_folder, folders)
    case = open_mri_folder(msd_folder).load("BRATS_002", "FLAIR")
    assert np.array_equal(read_volume(flair / "imagesTr" / "BRATS_002_0000.nii.gz").array, case.image.array)
    assert set(np.unique(read_volume(flair / "labelsTr" / "BRATS_002.nii.gz").array)) == {0, 1}
    regions = nd.convert_msd_to_nnunet(msd_folder, folders, regions=True)
    meta = json.loads((regions / "dataset.json").read_text())
    assert meta["labels"] == {"background": 0, "whole tumour": [1, 2, 3], "tumour core": [2, 3], "enhancing tumour": [3]}
    assert meta["regions_class_order"] == [1, 2, 3] and len(meta["channel_names"]) == 4
    t1gd = read_volume(regions / "imagesTr" / "BRATS_002_0002.nii.gz")
    assert np.array_equal(t1gd.array, open_mri_folder(msd_folder).load("BRATS_002", "t1gd").image.array)
    assert not (regions / "imagesTs").exists()  # MSD's own test images have no labels: left out


def _break(root, case, how):
    seg = root / case / f"{case}_seg.nii.gz"
    fld = root / case / f"{case}_fld.nii.gz"
    img = nib.load(seg)
    data = np.asarray(img.dataobj)
    if how == "shape":
        nib.save(nib.Nifti1Image(data[:-1], img.affine), seg)
    elif how == "spacing":
        nib.save(nib.Nifti1Image(data, np.diag([4.0, 4.0, 5.0, 1.0])), seg)
    elif how == "values":
        nib.save(nib.Nifti1Image(np.where(data > 0, 2, 0).astype(np.uint8), img.affine), seg)
    elif how == "missing":
        seg.unlink()
    elif how == "4d":
        image = nib.load(fld)
        nib.save(nib.Nifti1Image(np.stack([np.asarray(image.dataobj)] * 2, -1), image.affine), fld)


@pytest.mark.parametrize("how, error, message", [
    ("shape", GeometryMismatchError, "case 'case_002'.*shape"),
    ("spacing", GeometryMismatchError, "case 'case_002'.*spacing"),
    ("values", LabelValueError, "case 'case_002'.*2 \\("),
    ("missing", DatasetLayoutError, "'case_002' has no label"),
    ("4d", NotThreeDimensionalError, "'case_002'.*4-D"),
])
def test_bad_input_stops_before_writing(seed6, folders, tmp_path, how, error, message):
    root = _copy(seed6, tmp_path / "bad")
    _break(root, "case_002", how)
    with pytest.raises(error, match=message):
        nd.convert_seed_to_nnunet(root, folders)
    assert list(folders.raw.iterdir()) == []


def test_duplicate_case_ids(tmp_path):
    image = tmp_path / "a.nii.gz"
    nib.save(nib.Nifti1Image(np.zeros((4, 4, 4), np.float32), np.eye(4)), image)
    with pytest.raises(DatasetLayoutError, match="'x' appears twice"):
        nd.check_training_cases([("x", [image], image), ("x", [image], image)], [0, 1])


def test_interrupted_conversion_leaves_nothing(seed6, folders, monkeypatch):
    calls = {"n": 0}
    original = nd.copy_nifti

    def flaky(source, target):
        calls["n"] += 1
        if calls["n"] == 5:
            raise KeyboardInterrupt
        original(source, target)

    monkeypatch.setattr(nd, "copy_nifti", flaky)
    with pytest.raises(KeyboardInterrupt):
        nd.convert_seed_to_nnunet(seed6, folders)
    assert list(folders.raw.iterdir()) == []


def test_environment_is_restored(folders, monkeypatch):
    monkeypatch.delenv("nnUNet_raw", raising=False)
    with nd.nnunet_environment(folders):
        import os

        assert os.environ["nnUNet_raw"] == str(folders.raw)
    assert "nnUNet_raw" not in __import__("os").environ
    with pytest.raises(ValueError, match="not one of the course's dataset ids"):
        nd.dataset_name(7)


def test_plan_and_preprocess_through_nnunet(seed6, folders):
    nd.convert_seed_to_nnunet(seed6, folders)
    plans = nd.plan_and_preprocess(501, folders)
    config = plans["configurations"]["3d_fullres"]
    assert config["spacing"] == [4.0, 4.0, 4.0]  # isotropic input: the median spacing
    assert config["normalization_schemes"] == ["ZScoreNormalization"] and config["use_mask_for_norm"] == [True]
    assert config["batch_size"] == 2
    assert all(p % 8 == 0 for p in config["patch_size"])  # divisible by 2**(stages - 1)
    assert config["architecture"]["network_class_name"].endswith("PlainConvUNet")
    preprocessed = folders.preprocessed / "Dataset501_BraTSFlairSeed" / "nnUNetPlans_3d_fullres"
    assert len(list(preprocessed.glob("*.pkl"))) == 6
    stamp = (folders.preprocessed / "Dataset501_BraTSFlairSeed" / ".course-complete").stat().st_mtime_ns
    assert nd.plan_and_preprocess(501, folders) == plans  # reused, not recomputed
    assert (folders.preprocessed / "Dataset501_BraTSFlairSeed" / ".course-complete").stat().st_mtime_ns == stamp
    with pytest.raises(DatasetLayoutError, match="convert the dataset first"):
        nd.plan_and_preprocess(502, folders)


def test_copy_nifti_writes_gzipped_nifti(tmp_path):
    array = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    plain = tmp_path / "a.nii"
    nib.save(nib.Nifti1Image(array, np.diag([2.0, 2.0, 3.0, 1.0])), plain)
    out = nd.copy_nifti(plain, tmp_path / "b.nii.gz")
    assert out.read_bytes()[:2] == b"\x1f\x8b"  # gzip magic: re-encoded, not renamed
    again = nib.load(out)
    assert np.array_equal(np.asarray(again.dataobj), array) and np.allclose(again.affine, np.diag([2.0, 2.0, 3.0, 1.0]))
    assert nd.copy_nifti(out, tmp_path / "c.nii.gz").read_bytes() == out.read_bytes()  # .nii.gz: copied as is


def _pool_square(x):
    return x * x


def test_forked_worker_pools(monkeypatch):
    import multiprocessing
    import sys

    original = multiprocessing.get_context
    with nd.forked_worker_pools() as forked:
        if forked:
            assert sys.platform.startswith("linux")
            assert multiprocessing.get_context("spawn").get_start_method() == "fork"
            with multiprocessing.get_context("spawn").Pool(2) as pool:  # nnU-Net's own call
                assert pool.map(_pool_square, [1, 2, 3]) == [1, 4, 9]
        assert multiprocessing.get_context("forkserver").get_start_method() == "forkserver"
    assert multiprocessing.get_context is original
    monkeypatch.setattr(nd, "_fork_is_safe", lambda: False)  # CUDA in use, macOS, Windows: nnU-Net's spawn stays
    with nd.forked_worker_pools() as forked:
        assert not forked and multiprocessing.get_context("spawn").get_start_method() == "spawn"


_FORK_AFTER_THREADS = """
import multiprocessing, sys, time
from multiprocessing import Manager
import numpy as np, torch
from course_utils.imaging import nnunet_data as nd

def child(queue):  # what nnU-Net's preprocessing worker does: send a tensor back through a Manager queue
    queue.put({"data": torch.from_numpy(np.ones((4, 48, 48, 48), np.float32)), "threads": torch.get_num_threads()})

if __name__ == "__main__":
    torch.set_num_threads(2)
    a = torch.rand(1500, 1500); (a @ a).sum()  # the parent's OpenMP team of two threads has run
    with nd.forked_worker_pools() as forked:
        queue = Manager().Queue(maxsize=1)
        process = multiprocessing.get_context("spawn").Process(target=child, args=(queue,), daemon=True)
        process.start()
        item = queue.get(timeout=60)
    print(forked, float(item["data"].sum()), item["threads"])
"""


def test_forked_workers_do_not_hang_after_the_parent_ran_threads(tmp_path):
    """Chapter 6 hung in prediction (torch on two threads, the default outside CI): a forked worker waited on the
    parent's OpenMP team when it copied a tensor into shared memory. Forked workers now run torch on one thread."""
    import subprocess
    import sys

    script = tmp_path / "fork_after_threads.py"
    script.write_text(_FORK_AFTER_THREADS)
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")}
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120, env=env,
                          cwd=Path(__file__).resolve().parents[2])
    assert done.returncode == 0, done.stderr[-2000:]
    forked, total, threads = done.stdout.split()
    assert float(total) == 4 * 48**3 and (forked == "False" or int(threads) == 1), done.stdout


def test_forked_worker_pools_check_each_pool(monkeypatch):
    import multiprocessing

    with nd.forked_worker_pools() as forked:
        if forked:  # CUDA initialised inside the context (a trainer on a GPU): the next pool spawns again
            monkeypatch.setattr(nd, "_fork_is_safe", lambda: False)
            assert multiprocessing.get_context("spawn").get_start_method() == "spawn"
