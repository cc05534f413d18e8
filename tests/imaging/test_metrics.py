import math

import numpy as np
import pytest
from scipy import ndimage
from scipy.spatial import cKDTree

from course_utils.errors import GeometryMismatchError
from course_utils.imaging.io import Geometry, Volume
from course_utils.imaging.metrics import (
    brats_regions,
    dice,
    dice_brats_regions,
    dice_per_label,
    hd95,
    hd95_volumes,
    surface_distances,
    surface_mask,
)

ANISO = (3.0, 1.0, 0.5)  # (z, y, x) mm


def brute_force_surface_distances(a: np.ndarray, b: np.ndarray, spacing_zyx) -> np.ndarray:
    """Independent reference: nearest-neighbour search over surface voxel centres scaled to mm."""
    cross = ndimage.generate_binary_structure(3, 1)
    surface_a = a & ~ndimage.binary_erosion(a, structure=cross)
    surface_b = b & ~ndimage.binary_erosion(b, structure=cross)
    points_a = np.argwhere(surface_a) * np.asarray(spacing_zyx)
    points_b = np.argwhere(surface_b) * np.asarray(spacing_zyx)
    distances, _ = cKDTree(points_b).query(points_a)
    return distances


def brute_force_hd95(a: np.ndarray, b: np.ndarray, spacing_zyx) -> float:
    both = np.concatenate(
        [brute_force_surface_distances(a, b, spacing_zyx), brute_force_surface_distances(b, a, spacing_zyx)]
    )
    return float(np.percentile(both, 95))


def random_blob(rng: np.random.Generator, shape=(24, 32, 32)) -> np.ndarray:
    noise = ndimage.gaussian_filter(rng.standard_normal(shape), sigma=3.0)
    return noise > np.quantile(noise, 0.8)  # about 20% of the grid, a few irregular components


def ball(radius: float, shape=(40, 40, 40)) -> np.ndarray:
    z, y, x = np.ogrid[: shape[0], : shape[1], : shape[2]]
    centre = [(n - 1) / 2 for n in shape]
    return (z - centre[0]) ** 2 + (y - centre[1]) ** 2 + (x - centre[2]) ** 2 <= radius**2


def cube(shape=(16, 24, 40), start=(4, 6, 8), size=(8, 12, 12)) -> np.ndarray:
    mask = np.zeros(shape, bool)
    mask[tuple(slice(s, s + n) for s, n in zip(start, size))] = True
    return mask


# --- Dice -------------------------------------------------------------------------------------------------


def test_identical_masks_give_dice_one_and_hd95_zero():
    mask = ball(8)
    assert dice(mask, mask) == 1.0
    assert hd95(mask, mask, ANISO) == 0.0


def test_disjoint_masks_give_dice_zero():
    a, b = cube(start=(2, 2, 2), size=(4, 4, 4)), cube(start=(10, 12, 20), size=(4, 4, 4))
    assert dice(a, b) == 0.0
    assert hd95(a, b, ANISO) > 0.0


def test_dice_per_label_on_a_hand_made_map():
    ref = np.array([[[0, 1, 1, 2, 2, 3, 3, 3]]])
    pred = np.array([[[0, 1, 2, 2, 2, 3, 3, 0]]])
    scores = dice_per_label(pred, ref, [1, 2, 3, 4])
    # label 1: |P|=1, |R|=2, overlap 1 -> 2/3; label 2: |P|=3, |R|=2, overlap 2 -> 4/5;
    # label 3: |P|=2, |R|=3, overlap 2 -> 4/5; label 4 absent from both -> empty (1.0).
    assert scores == pytest.approx({1: 2 / 3, 2: 0.8, 3: 0.8, 4: 1.0})
    assert list(scores) == [1, 2, 3, 4]
    assert math.isnan(dice_per_label(pred, ref, [4], empty=float("nan"))[4])


def test_brats_regions_nest_msd_labels():
    label = np.array([[[0, 1, 2, 3]]], dtype=np.uint8)
    regions = brats_regions(label)
    assert list(regions) == ["WT", "TC", "ET"]
    assert regions["WT"].tolist() == [[[False, True, True, True]]]
    assert regions["TC"].tolist() == [[[False, False, True, True]]]
    assert regions["ET"].tolist() == [[[False, False, False, True]]]
    assert all(mask.dtype == bool for mask in regions.values())


def test_dice_brats_regions_on_a_hand_made_map():
    ref = np.array([[[0, 1, 1, 2, 3, 3]]])
    pred = np.array([[[1, 1, 2, 3, 3, 0]]])
    # WT: P={0,1,2,3,4}, R={1,2,3,4,5}, overlap 4 -> 8/10; TC: P={2,3,4}, R={3,4,5}, overlap 2 -> 4/6;
    # ET: P={3,4}, R={4,5}, overlap 1 -> 2/4.
    assert dice_brats_regions(pred, ref) == pytest.approx({"WT": 0.8, "TC": 2 / 3, "ET": 0.5})


# --- surface distances --------------------------------------------------------------------------------------


def test_surface_of_a_cube_is_its_shell():
    mask = cube(shape=(7, 7, 7), start=(1, 1, 1), size=(5, 5, 5))
    assert surface_mask(mask).sum() == 5**3 - 3**3
    assert surface_mask(np.ones((3, 3, 3), bool)).sum() == 26  # the array border counts as surface


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_surface_distances_match_brute_force_kdtree(seed):
    rng = np.random.default_rng(seed)
    a, b = random_blob(rng), random_blob(rng)
    for first, second in ((a, b), (b, a)):
        np.testing.assert_allclose(
            surface_distances(first, second, ANISO),
            brute_force_surface_distances(first, second, ANISO),
            rtol=0,
            atol=1e-6,
        )
    assert hd95(a, b, ANISO) == pytest.approx(brute_force_hd95(a, b, ANISO), abs=1e-6)


def test_surface_distances_of_empty_masks():
    assert surface_distances(np.zeros((4, 4, 4), bool), cube((4, 4, 4), (1, 1, 1), (2, 2, 2)), ANISO).size == 0
    with pytest.raises(ValueError, match="mask b is empty"):
        surface_distances(cube((4, 4, 4), (1, 1, 1), (2, 2, 2)), np.zeros((4, 4, 4), bool), ANISO)


# --- HD95 known answers -------------------------------------------------------------------------------------


@pytest.mark.parametrize(("r1", "r2"), [(6, 12), (8, 14), (5, 15)])
def test_hd95_of_concentric_spheres_is_the_radius_gap_within_one_voxel(r1, r2):
    value = hd95(ball(r1), ball(r2), (1.0, 1.0, 1.0))
    assert abs(value - (r2 - r1)) <= 1.0
    assert hd95(ball(r2), ball(r1), (1.0, 1.0, 1.0)) == value  # symmetric


@pytest.mark.parametrize("k", [1, 2, 4, 7])
def test_hd95_of_a_cube_shifted_along_x_is_exact(k):
    # Every surface voxel of one cube has its translate on the other's surface k voxels away along x
    # (k * 0.5 mm), so no distance exceeds k * 0.5 mm; the whole leading x face (about a sixth of all
    # surface voxels, more than 5%) is exactly that far, so the 95th percentile is k * 0.5 mm exactly.
    a = cube()
    b = np.roll(a, k, axis=2)
    assert hd95(a, b, ANISO) == pytest.approx(k * 0.5, abs=1e-12)
    assert hd95(a, b, ANISO) == brute_force_hd95(a, b, ANISO)


def test_hd95_empty_rules():
    empty, mask = np.zeros((8, 8, 8), bool), cube((8, 8, 8), (2, 2, 2), (3, 3, 3))
    assert hd95(empty, empty, ANISO) == 0.0
    assert math.isnan(hd95(mask, empty, ANISO)) and math.isnan(hd95(empty, mask, ANISO))
    assert hd95(empty, mask, ANISO, empty_value=373.13) == 373.13
    assert dice(empty, empty) == 1.0 and dice(empty, mask) == 0.0


def test_mismatched_shapes_raise_value_error_with_both_shapes():
    a, b = np.zeros((4, 5, 6), bool), np.zeros((4, 5, 7), bool)
    message = r"\(4, 5, 6\) vs \(4, 5, 7\)"
    with pytest.raises(ValueError, match=r"masks differ in shape: " + message + r"\. Compare"):
        hd95(a, b, ANISO)
    with pytest.raises(ValueError, match=message):
        surface_distances(a, b, ANISO)
    with pytest.raises(ValueError, match=r"label maps differ in shape: " + message):
        dice_per_label(a.astype(int), b.astype(int), [1])
    with pytest.raises(ValueError, match=message):
        dice_brats_regions(a.astype(int), b.astype(int))
    with pytest.raises(ValueError, match=message):
        dice(a, b)


def test_bad_spacing_is_rejected():
    mask = cube((8, 8, 8), (2, 2, 2), (3, 3, 3))
    with pytest.raises(ValueError, match=r"3 values.*got \(1.0, 1.0\)"):
        hd95(mask, mask, (1.0, 1.0))
    with pytest.raises(ValueError, match="positive"):
        surface_distances(mask, mask, (1.0, 0.0, 1.0))


# --- Volumes --------------------------------------------------------------------------------------------------


def test_hd95_volumes_takes_spacing_from_geometry():
    geometry = Geometry(spacing=(0.5, 1.0, 3.0))  # (x, y, z): the same grid as ANISO in (z, y, x)
    a = cube()
    b = np.roll(a, 4, axis=2)
    assert hd95_volumes(Volume(b, geometry, "pred"), Volume(a, geometry, "ref")) == pytest.approx(2.0)
    assert hd95_volumes(Volume(a, geometry), Volume(a, geometry)) == 0.0


def test_hd95_volumes_rejects_different_grids():
    a = cube()
    with pytest.raises(GeometryMismatchError, match=r"case 'BRATS_007'.*spacing"):
        hd95_volumes(
            Volume(a, Geometry((1.0, 1.0, 1.0)), "pred"),
            Volume(a, Geometry((0.5, 1.0, 3.0)), "ref"),
            case_id="BRATS_007",
        )
    with pytest.raises(GeometryMismatchError, match="shape"):
        hd95_volumes(Volume(a[:, :, :-1], Geometry((1.0, 1.0, 1.0))), Volume(a, Geometry((1.0, 1.0, 1.0))))
