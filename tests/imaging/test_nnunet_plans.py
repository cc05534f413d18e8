"""Chapter 2: the course's derivations of nnU-Net's rule-based plans equal nnU-Net's planner."""

from __future__ import annotations

import numpy as np
import pytest

from course_utils.imaging import nnunet_plans as npl


def _nnunet_target_spacing(spacings, shapes):
    from nnunetv2.experiment_planning.experiment_planners.default_experiment_planner import ExperimentPlanner

    planner = ExperimentPlanner.__new__(ExperimentPlanner)  # only the fingerprint-based method is used
    planner.dataset_fingerprint = {"spacings": [list(s) for s in spacings], "shapes_after_crop": [list(s) for s in shapes]}
    planner.anisotropy_threshold = npl.ANISOTROPY_THRESHOLD
    planner.overwrite_target_spacing = None
    return planner.determine_fullres_target_spacing()


@pytest.mark.parametrize("seed", range(6))
def test_target_spacing_equals_nnunet(seed):
    rng = np.random.default_rng(seed)
    n = 12
    if seed % 2:  # anisotropic: thick slices, few of them
        spacings = np.column_stack([rng.uniform(4.0, 7.0, n), rng.uniform(0.7, 1.0, n), rng.uniform(0.7, 1.0, n)])
        shapes = np.column_stack([rng.integers(15, 30, n), rng.integers(200, 260, n), rng.integers(200, 260, n)])
    else:
        spacings = rng.uniform(0.8, 1.2, (n, 3))
        shapes = rng.integers(100, 160, (n, 3))
    ours = npl.target_spacing(spacings, shapes)
    np.testing.assert_allclose(ours, _nnunet_target_spacing(spacings, shapes), rtol=0, atol=1e-12)
    if seed % 2:
        assert ours[0] < np.median(spacings[:, 0])  # the 10th percentile, not the median


def test_median_shape_and_patch_start():
    from nnunetv2.preprocessing.resampling.default_resampling import compute_new_shape

    spacings = [[1.0, 1.0, 1.0], [1.2, 1.0, 0.9], [1.0, 0.8, 1.0]]
    shapes = [[140, 170, 140], [120, 160, 150], [130, 200, 135]]
    target = npl.target_spacing(spacings, shapes)
    theirs = np.median([compute_new_shape(s, sp, target) for s, sp in zip(shapes, spacings)], 0)
    np.testing.assert_array_equal(npl.resampled_median_shape(spacings, shapes, target), theirs)
    start = npl.initial_patch_size([1.0, 1.0, 1.0], [300, 300, 300])
    np.testing.assert_array_equal(start, [256, 256, 256])
    assert npl.initial_patch_size([2.0, 1.0, 1.0], [999, 999, 999])[0] < 256  # fewer voxels along the coarse axis


def _nnunet_plans(spacing, shape, n_cases=20, channels=1):
    """nnU-Net's own ``plan_experiment`` on a fingerprint of identical cases, without any file (its I/O mocked)."""
    import contextlib
    import io
    from unittest import mock

    from nnunetv2.experiment_planning.experiment_planners import default_experiment_planner as dep
    from nnunetv2.imageio.simpleitk_reader_writer import SimpleITKIO

    dataset_json = {"channel_names": {str(i): "MRI" for i in range(channels)}, "labels": {"background": 0, "tumour": 1},
                    "numTraining": n_cases, "file_ending": ".nii.gz"}
    fingerprint = {"spacings": [list(spacing)] * n_cases, "shapes_after_crop": [list(shape)] * n_cases,
                   "median_relative_size_after_cropping": 0.5, "foreground_intensity_properties_per_channel": {}}
    planner = dep.ExperimentPlanner.__new__(dep.ExperimentPlanner)
    with mock.patch.object(dep, "maybe_convert_to_dataset_name", lambda _: "Dataset999_X"), \
            mock.patch.object(dep, "load_json", side_effect=[dataset_json, fingerprint]), \
            mock.patch.object(dep, "get_filenames_of_train_images_and_targets", lambda *a: {}), \
            mock.patch.object(dep, "isfile", lambda p: str(p).endswith("fingerprint.json")), \
            mock.patch.object(dep, "nnUNet_raw", "/nonexistent"), mock.patch.object(dep, "nnUNet_preprocessed", "/nonexistent"):
        dep.ExperimentPlanner.__init__(planner, 999)
        planner.determine_reader_writer = lambda: SimpleITKIO
        planner.save_plans = lambda plans: None
        with mock.patch.object(dep.shutil, "copy", lambda *a: None), contextlib.redirect_stdout(io.StringIO()):
            return planner.plan_experiment()


def test_lowres_96_patch_in_160_median_gets_no_cascade():
    # Step 1 runs (96^3 covers 21.6% < 25%), but two steps of 1.03 already reach 25%: the low-resolution median
    # has only 1.19x fewer voxels, below the 2x step 2 asks for, so nnU-Net drops 3d_lowres.
    search = npl.lowres_search([96, 96, 96], [160, 160, 160])
    assert search.searched and search.steps == 2 and not search.kept
    assert search.shrink == pytest.approx(1.03**6)
    assert not npl.lowres_needed([96, 96, 96], [160, 160, 160])
    assert npl.lowres_needed([96, 96, 96], [320, 320, 320])  # 2.7% coverage: far coarser, kept
    assert not npl.lowres_search([128, 128, 128], [138, 169, 138]).searched  # MSD-like: the patch covers 58%


@pytest.mark.parametrize(("shape", "kept"), [((240, 240, 240), False), ((300, 300, 300), True)])
def test_lowres_search_equals_nnunets_planner(shape, kept):
    plans = _nnunet_plans((1.0, 1.0, 1.0), shape)
    fullres = plans["configurations"]["3d_fullres"]
    search = npl.lowres_search(fullres["patch_size"], fullres["median_image_size_in_voxels"], fullres["spacing"])
    assert search.searched  # the 128^3 patch covers less than 25% of both
    assert ("3d_lowres" in plans["configurations"]) == search.kept == kept
    if kept:  # where the search stopped: same spacing and median as nnU-Net's 3d_lowres
        lowres = plans["configurations"]["3d_lowres"]
        np.testing.assert_allclose(search.lowres_spacing, lowres["spacing"], rtol=1e-9)
        np.testing.assert_allclose(search.lowres_median, lowres["median_image_size_in_voxels"], atol=0.5)
    else:  # searched, then dropped by step 2: the old one-step rule would have said "cascade"
        assert 1.0 < search.shrink < npl.LOWRES_MIN_SHRINK
    assert fullres["batch_size"] <= npl.batch_size_cap(fullres["median_image_size_in_voxels"], 20, fullres["patch_size"])


def test_anisotropic_search_coarsens_the_fine_axes_first():
    search = npl.lowres_search([40, 224, 224], [80, 400, 400], [3.0, 0.8, 0.8])
    assert search.lowres_spacing[0] == 3.0 and search.lowres_spacing[1] > 0.8  # thick axis untouched
    assert search.searched and not search.kept  # nnU-Net's planner drops it too (checked by hand, 8.8 s)


def test_normalization_scheme_equals_nnunets_mapping():
    from nnunetv2.preprocessing.normalization.map_channel_name_to_normalization import get_normalization_scheme

    for name in ("CT", "ct", "noNorm", "rescale_to_0_1", "rgb_to_0_1", "zscore", "FLAIR", "T1w", "MRI"):
        assert npl.normalization_scheme(name) == get_normalization_scheme(name).__name__
    assert npl.normalization_scheme("noNorm") == "NoNormalization"  # not z-scored


def test_batch_size_cap_is_five_percent_of_the_dataset():
    # 10 cases of 64^3, patch 32^3: the dataset holds 80 patches' worth of voxels, 5% of it is 4 patches
    assert npl.batch_size_cap([64, 64, 64], 10, [32, 32, 32]) == 4
    assert npl.batch_size_cap([64, 64, 64], 1, [32, 32, 32]) == 2  # never below 2


def test_planning_targets_match_the_installed_planners():
    import inspect

    from nnunetv2.experiment_planning.experiment_planners import default_experiment_planner as dep
    from nnunetv2.experiment_planning.experiment_planners.residual_unets import residual_encoder_unet_planners as res

    default = inspect.signature(dep.ExperimentPlanner.__init__).parameters["gpu_memory_target_in_gb"].default
    assert default == npl.GPU_TARGET_GB
    for name, gb in npl.RESENC_PRESETS_GB.items():
        assert inspect.signature(getattr(res, name).__init__).parameters["gpu_memory_target_in_gb"].default == gb
