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


def test_lowres_rule_v2_against_paper():
    median, patch = [160, 160, 160], [96, 96, 96]  # the patch covers 21% of the median image
    assert npl.lowres_needed(patch, median)  # nnU-Net v2: below 25%
    assert not npl.lowres_needed(patch, median, npl.LOWRES_THRESHOLD_PAPER)  # the paper: below 12.5%
