"""The course's preprocessing steps against nnU-Net's own functions on the same data (chapter 3).

Tolerances: cropping, anisotropy decisions, label resampling and shapes must be exactly equal. Float results
(normalisation, image resampling) are compared with ``rtol=1e-6, atol=1e-6``: a few float32 ulps, room for a
change in summation order inside numpy; on numpy 2.4 / scipy 1.17 they currently agree bit for bit.
"""

from __future__ import annotations

import numpy as np
import pytest
from nnunetv2.experiment_planning.experiment_planners.default_experiment_planner import ExperimentPlanner
from nnunetv2.preprocessing.cropping import cropping as nn_cropping
from nnunetv2.preprocessing.normalization.default_normalization_schemes import (
    CTNormalization,
    ZScoreNormalization,
)
from nnunetv2.preprocessing.resampling import default_resampling as nn_resampling

from course_utils.errors import VolumeError
from course_utils.imaging.preprocessing import (
    ANISO_THRESHOLD,
    crop_to_nonzero,
    ct_normalize,
    is_anisotropic,
    nonzero_bbox,
    out_of_plane_axis,
    resample_image,
    resample_label,
    target_shape,
    zscore,
)
from course_utils.imaging.synthetic import SEQUENCES, make_case

FLOAT_TOL = {"rtol": 1e-6, "atol": 1e-6}
# The kwargs nnU-Net's default planner writes into the plans for images and labels.
_, DATA_KWARGS, _, SEG_KWARGS = ExperimentPlanner.determine_resampling(None)


@pytest.fixture(scope="module")
def case() -> tuple[np.ndarray, np.ndarray, tuple[float, float, float]]:
    """A 4 mm synthetic case as nnU-Net holds it: data [4, z, y, x] and seg [1, z, y, x] float32, spacing (z, y, x)."""
    c = make_case("pre_001", seed=7, spacing_mm=(4.0, 4.0, 4.0))
    data = np.stack([c.images[s].array for s in SEQUENCES]).astype(np.float32)
    seg = c.label.array[None].astype(np.float32)
    return data, seg, tuple(float(s) for s in c.label.geometry.spacing[::-1])


@pytest.fixture(scope="module")
def small() -> tuple[np.ndarray, np.ndarray]:
    """A random 16x20x18 volume: a nonzero block with an enclosed zero cavity and a notch open to the border."""
    rng = np.random.default_rng(11)
    image = np.zeros((16, 20, 18), dtype=np.float32)
    image[3:13, 4:17, 2:15] = rng.normal(5.0, 2.0, (10, 13, 13)) + 10.0
    image[6:9, 8:11, 6:9] = 0.0  # enclosed: binary_fill_holes puts it inside the mask
    image[3:6, 4:7, 2:15] = 0.0  # a notch reaching the box's faces: stays outside
    label = np.zeros_like(image)
    label[5:11, 9:15, 4:12] = rng.integers(0, 4, (6, 6, 8))
    return image, label


# ------------------------------------------------------------------------------------------------ cropping
def test_crop_equals_nnunet_on_synthetic_case(case):
    data, seg, _ = case
    nn_data, nn_seg, nn_bbox = nn_cropping.crop_to_nonzero(data.copy(), seg.copy())
    ours, ours_seg, box = crop_to_nonzero(data, seg)
    np.testing.assert_array_equal(ours, nn_data)
    np.testing.assert_array_equal(ours_seg, nn_seg)
    assert ours_seg.dtype == nn_seg.dtype
    assert [[s.start, s.stop] for s in box] == [list(map(int, b)) for b in nn_bbox]
    assert ours.shape[1:] != data.shape[1:]  # the synthetic brain has a zero background to crop away
    assert (ours_seg == -1).any() and set(np.unique(ours_seg)) <= {-1.0, 0.0, 1.0, 2.0, 3.0}


def test_crop_fills_holes_and_leaves_inputs_alone(small):
    image, label = small
    nn_data, nn_seg, nn_bbox = nn_cropping.crop_to_nonzero(image[None].copy())
    ours, ours_seg, box = crop_to_nonzero(image)  # a 3-D volume is one channel, and comes back 3-D
    np.testing.assert_array_equal(ours, nn_data[0])
    np.testing.assert_array_equal(ours_seg, nn_seg[0])
    assert ours_seg.dtype == np.int8
    assert box == (slice(3, 13), slice(4, 17), slice(2, 15))
    cavity = (slice(6 - 3, 9 - 3), slice(8 - 4, 11 - 4), slice(6 - 2, 9 - 2))
    assert (ours_seg[cavity] == 0).all()  # hole filled: inside the mask
    assert (ours_seg[0:3, 0:3, :] == -1).all()  # notch open to the border: outside

    before = label.copy()
    nn_label = label[None].copy()
    _, nn_seg, _ = nn_cropping.crop_to_nonzero(image[None].copy(), nn_label)
    _, ours_seg, _ = crop_to_nonzero(image, label)
    np.testing.assert_array_equal(ours_seg, nn_seg[0])
    np.testing.assert_array_equal(label, before)  # ours copies ...
    assert (nn_label == -1).any()  # ... nnU-Net writes -1 into the caller's label


def test_nonzero_bbox_equals_nnunet_and_empty_volume_keeps_full_extent(case):
    from acvl_utils.cropping_and_padding.bounding_boxes import get_bbox_from_mask

    data, _, _ = case
    expected = get_bbox_from_mask(nn_cropping.create_nonzero_mask(data))
    assert [[s.start, s.stop] for s in nonzero_bbox(data)] == [list(map(int, b)) for b in expected]
    assert nonzero_bbox(np.zeros((3, 4, 5))) == (slice(0, 3), slice(0, 4), slice(0, 5))


def test_crop_refuses_unsigned_labels_and_bad_shapes(small):
    image, label = small
    with pytest.raises(VolumeError, match="cannot hold outside_label=-1"):
        crop_to_nonzero(image, label.astype(np.uint8))
    with pytest.raises(VolumeError, match="spatial shape"):
        crop_to_nonzero(image, label[:-1])
    with pytest.raises(VolumeError, match=r"\[z, y, x\]"):
        crop_to_nonzero(image[0])


# ------------------------------------------------------------------------------------------- normalisation
@pytest.mark.parametrize("use_mask", [True, False])
def test_zscore_equals_nnunet(case, use_mask):
    data, seg, _ = case
    cropped, cropped_seg, _ = crop_to_nonzero(data, seg)
    for c in range(cropped.shape[0]):
        norm = ZScoreNormalization(use_mask_for_norm=use_mask, intensityproperties={})
        expected = norm.run(cropped[c].copy(), cropped_seg[0])
        ours = zscore(cropped[c], cropped_seg[0] >= 0 if use_mask else None)
        assert ours.dtype == expected.dtype == np.float32
        np.testing.assert_allclose(ours, expected, **FLOAT_TOL)


def test_zscore_casts_like_nnunet_and_keeps_outside_of_mask(small):
    image, _ = small
    values = image.astype(np.float64) * 1000.0
    mask = values != 0
    norm = ZScoreNormalization(use_mask_for_norm=True, intensityproperties={})
    expected = norm.run(values.copy(), np.where(mask, 0, -1))
    ours = zscore(values, mask)
    assert ours.dtype == np.float32  # nnU-Net's target_dtype, statistics in float32 too
    np.testing.assert_allclose(ours, expected, **FLOAT_TOL)
    assert (ours[~mask] == 0).all()  # nnU-Net writes nothing outside the mask: the zeros stay zeros
    np.testing.assert_allclose([ours[mask].mean(), ours[mask].std()], [0.0, 1.0], atol=1e-5)
    # A constant image: the standard deviation is floored at 1e-8 instead of dividing by zero.
    flat = np.full((4, 4, 4), 3.0)
    np.testing.assert_array_equal(zscore(flat), ZScoreNormalization(False, {}).run(flat.copy()))
    with pytest.raises(VolumeError, match="no voxels"):
        zscore(values, np.zeros_like(mask))


def test_ct_normalize_equals_nnunet(case, small):
    data, seg, _ = case
    foreground = data[0][seg[0] > 0].astype(np.float64)
    props = {  # what nnU-Net's fingerprint stores per channel (Python floats, read back from JSON)
        "mean": float(foreground.mean()),
        "std": float(foreground.std()),
        "percentile_00_5": float(np.percentile(foreground, 0.5)),
        "percentile_99_5": float(np.percentile(foreground, 99.5)),
    }
    rng = np.random.default_rng(5)
    hounsfield = rng.integers(-1024, 3000, (12, 14, 10)).astype(np.int16)
    for image in (data[0], small[0], hounsfield):
        expected = CTNormalization(intensityproperties=props).run(image.copy())
        ours = ct_normalize(image, props["mean"], props["std"], props["percentile_00_5"], props["percentile_99_5"])
        assert ours.dtype == expected.dtype == np.float32
        np.testing.assert_allclose(ours, expected, **FLOAT_TOL)
    lower = (props["percentile_00_5"] - props["mean"]) / props["std"]
    assert ours.min() == pytest.approx(lower, rel=1e-5)  # clipped before shifting and scaling


# ---------------------------------------------------------------------------------------------- resampling
@pytest.mark.parametrize(
    ("current", "new", "axis"),
    [
        ((5.0, 1.0, 1.0), (1.5, 1.0, 1.0), 0),  # thick slices: separate z
        ((1.0, 1.0, 1.0), (1.2, 1.2, 1.2), None),  # isotropic: joint
        ((3.0, 1.0, 1.0), (1.0, 1.0, 1.0), None),  # ratio exactly 3 is not "more than 3"
        ((5.0, 2.0, 1.0), (5.0, 2.0, 2.0), 0),  # compared with the smallest spacing, not the next largest
        ((1.0, 1.0, 1.0), (1.0, 1.0, 4.0), 2),  # decided on the target spacing when the source is isotropic
        ((0.24, 1.25, 1.25), (1.0, 1.0, 1.0), None),  # two largest axes: no single out-of-plane axis
    ],
)
def test_anisotropy_decision_equals_nnunet(current, new, axis):
    do_separate, nn_axis = nn_resampling.determine_do_sep_z_and_axis(None, current, new, ANISO_THRESHOLD)
    assert out_of_plane_axis(current, new) == nn_axis == axis
    assert do_separate == (axis is not None)
    assert is_anisotropic(current) == nn_resampling.get_do_separate_z(current)


def _nnunet_resample(data, current, new, kwargs, monkeypatch):
    """nnU-Net's resampling with its plans' kwargs, counting the map_coordinates calls of the separate-z path."""
    calls = []

    def spy(*args, **kw):
        calls.append(kw.get("order"))
        return real(*args, **kw)

    real = nn_resampling.map_coordinates
    monkeypatch.setattr(nn_resampling, "map_coordinates", spy)
    shape = nn_resampling.compute_new_shape(data.shape[1:], current, new)
    out = nn_resampling.resample_data_or_seg_to_shape(data, shape, current, new, **kwargs)
    monkeypatch.undo()
    return out, calls


def test_anisotropic_image_takes_separate_z_path_in_both(monkeypatch):
    rng = np.random.default_rng(3)
    data = rng.normal(100.0, 20.0, (2, 10, 32, 32)).astype(np.float32)
    current, new = (5.0, 1.0, 1.0), (1.5, 1.0, 1.0)
    expected, calls = _nnunet_resample(data, current, new, DATA_KWARGS, monkeypatch)
    assert calls == [0, 0]  # one nearest-neighbour pass along z per channel: nnU-Net took the separate-z path
    assert out_of_plane_axis(current, new) == 0
    ours = resample_image(data, current, new)
    assert ours.shape == expected.shape == (2, 33, 32, 32) and ours.dtype == np.float32
    np.testing.assert_allclose(ours, expected, **FLOAT_TOL)
    # Nearest across slices: every output slice is one of the (in-plane resampled, here unchanged) input slices.
    assert all(any(np.array_equal(s, t) for t in data[0]) for s in ours[0])
    joint_kwargs = {**DATA_KWARGS, "force_separate_z": False}
    joint = nn_resampling.resample_data_or_seg_to_shape(data, ours.shape[1:], current, new, **joint_kwargs)
    assert not np.allclose(ours, joint)  # the path matters


def test_isotropic_synthetic_case_takes_joint_path_in_both(case, monkeypatch):
    data, seg, spacing = case
    assert spacing == (4.0, 4.0, 4.0)
    new = (5.0, 4.5, 3.5)
    expected, calls = _nnunet_resample(data[:1], spacing, new, DATA_KWARGS, monkeypatch)
    assert calls == [] and out_of_plane_axis(spacing, new) is None  # one 3-D cubic spline, no z pass
    ours = resample_image(data[0], spacing, new)  # 3-D in, 3-D out
    assert ours.shape == expected.shape[1:] == target_shape(data.shape[1:], spacing, new)
    np.testing.assert_allclose(ours, expected[0], **FLOAT_TOL)
    assert ours.min() >= data[0].min() and ours.max() <= data[0].max()  # skimage's clip=True: no overshoot

    expected, calls = _nnunet_resample(seg, spacing, new, SEG_KWARGS, monkeypatch)
    assert calls == []
    ours = resample_label(seg, spacing, new)
    np.testing.assert_array_equal(ours, expected)
    assert set(np.unique(ours)) <= set(np.unique(seg))


def test_thick_slice_synthetic_case_equals_nnunet(case, monkeypatch):
    data, seg, spacing = case
    # Every 4th slice of the 4 mm case: a 16 mm thick-slice acquisition, resampled to 6 mm.
    thick, thick_seg = data[:2, ::4], seg[:, ::4]
    current, new = (spacing[0] * 4, spacing[1], spacing[2]), (6.0, 4.0, 4.0)
    cropped, cropped_seg, _ = crop_to_nonzero(thick, thick_seg)
    expected, calls = _nnunet_resample(cropped, current, new, DATA_KWARGS, monkeypatch)
    assert calls == [0, 0]
    np.testing.assert_allclose(resample_image(cropped, current, new), expected, **FLOAT_TOL)
    expected, calls = _nnunet_resample(cropped_seg, current, new, SEG_KWARGS, monkeypatch)
    assert calls == [0]
    ours = resample_label(cropped_seg, current, new)
    np.testing.assert_array_equal(ours, expected)
    assert set(np.unique(ours)) <= set(np.unique(cropped_seg))  # -1 survives as a label like any other


@pytest.mark.parametrize(
    ("current", "new"),
    [((5.0, 1.0, 1.0), (1.5, 1.0, 1.0)), ((2.0, 2.0, 2.0), (1.0, 1.0, 1.0)), ((1.0, 1.0, 1.0), (1.7, 1.3, 1.9))],
)
def test_label_resampling_equals_nnunet_and_adds_no_values(current, new):
    rng = np.random.default_rng(8)
    # Labels 0, 1, 3 (no 2): a blend of 1 and 3 must never produce 2. Blocky, so boundaries meet and tie.
    seg = np.kron(rng.choice([0.0, 1.0, 3.0], (1, 5, 8, 8)), np.ones((1, 2, 2, 2))).astype(np.float32)
    shape = nn_resampling.compute_new_shape(seg.shape[1:], current, new)
    expected = nn_resampling.resample_data_or_seg_to_shape(seg, shape, current, new, **SEG_KWARGS)
    ours = resample_label(seg, current, new)
    np.testing.assert_array_equal(ours, expected)
    assert set(np.unique(ours)) <= {0.0, 1.0, 3.0}
    np.testing.assert_array_equal(resample_label(seg[0].astype(np.int16), current, new), expected[0])


def test_same_shape_is_returned_unchanged_as_a_copy():
    image = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    out = resample_image(image, (1.0, 1.0, 1.0), (1.0, 1.0, 1.0))
    np.testing.assert_array_equal(out, image)
    assert out is not image
    with pytest.raises(VolumeError, match="three entries"):
        resample_image(image, (1.0, 1.0), (1.0, 1.0))
