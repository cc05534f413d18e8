import numpy as np
import pytest

from course_utils.errors import GeometryMismatchError, LabelValueError
from course_utils.imaging.checks import check_label_values, check_pair, region_volumes_ml
from course_utils.imaging.io import Geometry, Volume
from course_utils.imaging.metrics import dice
from course_utils.imaging.resample import crop_to_foreground, resample_like, resample_to_spacing

G = Geometry((1.0, 1.0, 2.0))


def test_matching_pair_passes():
    check_pair(Volume(np.zeros((4, 5, 6)), G), Volume(np.zeros((4, 5, 6), np.uint8), G), "c1")


def test_shape_mismatch_is_reported_with_case_and_values():
    with pytest.raises(GeometryMismatchError) as info:
        check_pair(Volume(np.zeros((4, 5, 6)), G, "img"), Volume(np.zeros((4, 5, 7)), G, "lab"), "BRATS_001")
    message = str(info.value)
    assert "BRATS_001" in message and "(4, 5, 6)" in message and "(4, 5, 7)" in message and "nearest" in message


def test_spacing_and_orientation_mismatch():
    other = Geometry((1.0, 1.0, 3.0))
    with pytest.raises(GeometryMismatchError, match=r"spacing .*\(1, 1, 2\).*\(1, 1, 3\)"):
        check_pair(Volume(np.zeros((2, 2, 2)), G), Volume(np.zeros((2, 2, 2)), other))
    flipped = Geometry((1.0, 1.0, 2.0), direction=(-1.0, 0, 0, 0, -1.0, 0, 0, 0, 1.0))
    with pytest.raises(GeometryMismatchError, match="orientation image LPS vs label RAS"):
        check_pair(Volume(np.zeros((2, 2, 2)), G), Volume(np.zeros((2, 2, 2)), flipped))


def test_label_values_outside_declared_labels():
    label = Volume(np.array([0, 1, 1, 4, 4, 4, 2, 0]).reshape(2, 2, 2).astype(np.uint8), G, "lab")
    check_label_values(label, {0: "bg", 1: "a", 2: "b", 4: "c"})
    with pytest.raises(LabelValueError, match=r"case 'c7'.*\[0, 1, 2\]: 4 \(3 voxels\)"):
        check_label_values(label, [0, 1, 2], "c7")
    with pytest.raises(LabelValueError, match="0.5"):
        check_label_values(Volume(np.full((2, 2, 2), 0.5), G), [0, 1])


def test_region_volumes_ml():
    label = Volume(np.array([0, 1, 1, 2] * 2).reshape(2, 2, 2), Geometry((10.0, 10.0, 10.0)))
    assert region_volumes_ml(label, {0: "bg", 1: "a", 2: "b"}) == {"a": 4.0, "b": 2.0}


def test_resample_to_spacing_keeps_extent_and_labels(synthetic_case):
    label = synthetic_case.label
    thick = resample_to_spacing(label, (4.0, 4.0, 10.0), is_label=True)
    assert thick.geometry.spacing == (4.0, 4.0, 10.0)
    assert abs(thick.extent_mm[2] - label.extent_mm[2]) <= 10.0
    assert set(np.unique(thick.array)) <= {0, 1, 2, 3}


def test_crop_moves_origin_and_resample_restores(synthetic_case):
    whole = synthetic_case.label.like((synthetic_case.label.array > 0).astype(np.uint8))
    cropped = crop_to_foreground(whole, margin=1)
    assert np.prod(cropped.shape_zyx) < np.prod(whole.shape_zyx) / 20
    assert not np.allclose(cropped.geometry.origin, whole.geometry.origin)
    assert dice(resample_like(cropped, whole).array, whole.array) == 1.0
    empty = whole.like(np.zeros_like(whole.array))
    assert crop_to_foreground(empty) is empty


def test_dice_known_values():
    a = np.zeros((4, 4), bool)
    b = a.copy()
    a[:2], b[1:3] = True, True
    assert dice(a, b) == pytest.approx(0.5)
    assert dice(a, a) == 1.0 and dice(np.zeros(3), np.zeros(3)) == 1.0
    assert dice(np.zeros(3), np.zeros(3), empty=0.0) == 0.0
    with pytest.raises(ValueError, match="shape"):
        dice(a, np.zeros((2, 2)))
