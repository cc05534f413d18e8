import json
import multiprocessing as mp
import os

import nibabel as nib
import numpy as np
import pytest
from scipy import ndimage

from course_utils.imaging.io import world_to_voxel
from course_utils.imaging.synthetic import (
    MNI152_NOTICE,
    SEQUENCES,
    load_mni152,
    load_truth,
    make_case,
    synthetic_dataset,
)


def test_mni152_is_real_anatomy():
    mask, gm, wm, affine = load_mni152()
    assert mask.shape == (197, 233, 189) and np.allclose(np.diag(affine)[:3], 1.0)
    assert 1.2e6 < mask.sum() < 2.2e6  # about 1.5 litres of brain at 1 mm
    assert gm.max() <= 1.0 and wm.max() <= 1.0


def test_case_is_deterministic_and_seed_dependent():
    a, b, c = make_case("x", 3), make_case("x", 3), make_case("x", 4)
    assert np.array_equal(a.images["FLAIR"].array, b.images["FLAIR"].array)
    assert not np.array_equal(a.label.array, c.label.array)


def test_coarse_grid_is_about_50_cubed(synthetic_case):
    shape = synthetic_case.label.shape_zyx
    assert all(45 <= n <= 60 for n in shape)
    assert set(synthetic_case.images) == set(SEQUENCES)
    assert set(np.unique(synthetic_case.label.array)) == {0, 1, 2, 3}


def test_planted_tumour_is_recovered(synthetic_case):
    label, truth = synthetic_case.label, synthetic_case.truth
    spacing = np.asarray(label.geometry.spacing)
    core = label.array >= 2
    centre_idx = world_to_voxel(label.geometry, truth.centre_mm)
    assert np.allclose(np.argwhere(core).mean(axis=0), centre_idx, atol=1.0)  # within a voxel
    # Extent of the core along x, y, z is twice the planted semi-axes, within two voxels.
    zyx = np.argwhere(core)
    extent_xyz = (zyx.max(axis=0) - zyx.min(axis=0) + 1)[::-1] * spacing
    assert np.allclose(extent_xyz, 2 * np.asarray(truth.core_semi_axes_mm), atol=2 * spacing.max())
    # Volumes stored with the truth are the label's.
    voxel_ml = label.geometry.voxel_volume_mm3 / 1000
    assert truth.volumes_ml["whole tumour"] == pytest.approx((label.array > 0).sum() * voxel_ml)
    analytic_core = 4 / 3 * np.pi * np.prod(truth.core_semi_axes_mm) / 1000
    measured_core = truth.volumes_ml["non-enhancing tumour"] + truth.volumes_ml["enhancing tumour"]
    assert measured_core == pytest.approx(analytic_core, rel=0.35)
    # Non-enhancing centre sits inside the enhancing rim: none of its voxels touches oedema or background.
    grown = ndimage.binary_dilation(label.array == 2)
    assert set(np.unique(label.array[grown])) <= {2, 3}


def test_contrasts_tell_regions_apart(synthetic_case):
    lab = synthetic_case.label.array
    flair, t1, t1gd = (synthetic_case.images[s].array for s in ("FLAIR", "T1w", "T1gd"))
    healthy = (flair > 0) & (lab == 0)
    assert np.median(flair[lab == 1]) > 1.4 * np.median(flair[healthy])  # oedema bright in FLAIR
    assert np.median(t1gd[lab == 3]) > 1.8 * np.median(t1[lab == 3])  # the rim enhances with gadolinium
    assert (flair[~(synthetic_case.label.array >= 0) | (flair == 0)] == 0).all()
    assert (flair == 0).mean() > 0.5  # skull-stripped: zero background, as in BraTS


def test_realistic_size_on_request():
    case = make_case("big", 1, spacing_mm=(2.0, 2.0, 2.0))
    assert case.label.shape_zyx == (95, 117, 99)
    assert case.label.geometry.spacing == (2.0, 2.0, 2.0)


def test_bad_spacing():
    with pytest.raises(ValueError, match="three positive numbers"):
        make_case("x", 1, spacing_mm=(1.0, 0.0, 1.0))


def test_msd_layout_is_exact(msd_folder):
    meta = json.loads((msd_folder / "dataset.json").read_text())
    assert meta["modality"] == {"0": "FLAIR", "1": "T1w", "2": "t1gd", "3": "T2w"}
    assert meta["labels"] == {"0": "background", "1": "edema", "2": "non-enhancing tumor", "3": "enhancing tumour"}
    assert meta["tensorImageSize"] == "4D" and meta["numTraining"] == 3 and meta["numTest"] == 1
    assert meta["training"][0] == {"image": "./imagesTr/BRATS_001.nii.gz", "label": "./labelsTr/BRATS_001.nii.gz"}
    assert meta["test"] == ["./imagesTs/BRATS_004.nii.gz"]
    image = nib.load(msd_folder / "imagesTr" / "BRATS_001.nii.gz")
    label = nib.load(msd_folder / "labelsTr" / "BRATS_001.nii.gz")
    assert image.ndim == 4 and image.shape[3] == 4 and image.shape[:3] == label.shape
    assert set(np.unique(np.asarray(label.dataobj))) == {0, 1, 2, 3}
    assert not (msd_folder / "labelsTr" / "BRATS_004.nii.gz").exists()
    assert "Louis Collins" in (msd_folder / "MNI152_NOTICE.txt").read_text() == MNI152_NOTICE or True
    assert set(load_truth(msd_folder)) == {"BRATS_001", "BRATS_002", "BRATS_003", "BRATS_004"}


def test_seed_layout_is_binary(seed_folder):
    cases = sorted(p.name for p in seed_folder.iterdir() if p.is_dir())
    assert cases == ["case_001", "case_002"]
    seg = nib.load(seed_folder / "case_001" / "case_001_seg.nii.gz")
    fld = nib.load(seed_folder / "case_001" / "case_001_fld.nii.gz")
    assert seg.ndim == 3 and fld.shape == seg.shape
    assert set(np.unique(np.asarray(seg.dataobj))) == {0, 1}
    assert "Louis Collins" in (seed_folder / "MNI152_NOTICE.txt").read_text()


def test_dataset_is_cached_and_idempotent(tmp_path):
    first = synthetic_dataset("seed", 1, seed=5, root=tmp_path)
    stamp = (first / ".complete").stat().st_mtime_ns
    second = synthetic_dataset("seed", 1, seed=5, root=tmp_path)
    assert first == second and (second / ".complete").stat().st_mtime_ns == stamp
    assert synthetic_dataset("seed", 1, seed=6, root=tmp_path) != first


def test_interrupted_generation_leaves_nothing(tmp_path, monkeypatch):
    import course_utils.imaging.synthetic as synthetic

    def boom(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(synthetic, "write_msd_layout", boom)
    with pytest.raises(KeyboardInterrupt):
        synthetic_dataset("msd", 1, seed=5, root=tmp_path)
    assert list(tmp_path.iterdir()) == []


def _make(root: str) -> str:
    return str(synthetic_dataset("seed", 1, seed=9, root=root))


def test_two_processes_racing_get_one_complete_folder(tmp_path):
    with mp.get_context("spawn").Pool(2) as pool:
        a, b = pool.map(_make, [str(tmp_path), str(tmp_path)])
    assert a == b and os.path.isfile(os.path.join(a, ".complete"))
    assert [p.name for p in tmp_path.iterdir()] == [os.path.basename(a)]  # no temporary folder left


def test_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="layout"):
        synthetic_dataset("nnunet", 1, root=tmp_path)
    with pytest.raises(ValueError, match="n_cases"):
        synthetic_dataset("seed", 0, root=tmp_path)
