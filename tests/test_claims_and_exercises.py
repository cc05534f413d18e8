import numpy as np
import pytest

from course_utils.claims import ClaimError, claim, claim_between, claim_close
from course_utils.exercises import CORRECT, INCORRECT, NOT_ATTEMPTED, ch01


def test_claims():
    claim(True, "x")
    claim_close(1.0, 1.0 + 1e-9, "x")
    claim_between(0.5, 0, 1, "x")
    with pytest.raises(ClaimError, match="claims that the sky is green"):
        claim(False, "the sky is green")
    with pytest.raises(ClaimError, match="expected 2.0"):
        claim_close(1.0, 2.0, "one is two")
    with pytest.raises(ClaimError):
        claim_between(2, 0, 1, "x")


def untouched(*args):
    ...


CHECKERS = [
    (ch01.check_physical_extent, ch01.physical_extent_mm),
    (ch01.check_tumour_volume, ch01.tumour_volume_ml),
    (ch01.check_voxel_centre, ch01.voxel_centre_mm),
]


@pytest.mark.parametrize("checker,solution", CHECKERS)
def test_solution_passes_and_untouched_cell_is_not_attempted(checker, solution):
    good = checker(solution)
    assert good.status == CORRECT and good.correct, good
    blank = checker(untouched)
    assert blank.status == NOT_ATTEMPTED and "not attempted yet" in str(blank)
    assert "not attempted yet" in blank._repr_markdown_()


def test_wrong_answers_get_specific_feedback():
    zyx_order = lambda v: tuple(n * s for n, s in zip(v.array.shape, v.geometry.spacing))  # noqa: E731
    fb = ch01.check_physical_extent(zyx_order)
    assert fb.status == INCORRECT and "(z, y, x)" in fb.message
    fb = ch01.check_physical_extent(lambda v: v.array.shape[::-1])
    assert fb.status == INCORRECT and "number of voxels" in fb.message

    fb = ch01.check_tumour_volume(lambda lab: float(np.count_nonzero(lab.array)))
    assert fb.status == INCORRECT and "voxels" in fb.message
    fb = ch01.check_tumour_volume(lambda lab: ch01.tumour_volume_ml(lab) * 1000)
    assert fb.status == INCORRECT and "1000 mm^3" in fb.message
    fb = ch01.check_tumour_volume(lambda lab: float((lab.array == 1).sum() * np.prod(lab.geometry.spacing) / 1000))
    assert fb.status == INCORRECT and "every label above 0" in fb.message

    def ignores_direction(v, idx):
        return np.asarray(v.geometry.origin) + np.asarray(v.geometry.spacing) * np.asarray(idx)[::-1]

    fb = ch01.check_voxel_centre(ignores_direction)
    assert fb.status == INCORRECT and "rotated" in fb.message

    def wrong_order(v, idx):
        return np.asarray(v.geometry.origin) + np.asarray(v.geometry.direction).reshape(3, 3) @ (np.asarray(v.geometry.spacing) * np.asarray(idx))

    fb = ch01.check_voxel_centre(wrong_order)
    assert fb.status == INCORRECT and "[z, y, x]" in fb.message


def test_a_raising_answer_is_reported_not_raised():
    fb = ch01.check_physical_extent(lambda v: 1 / 0)
    assert fb.status == INCORRECT and "ZeroDivisionError" in fb.message


def test_chapter2_exercises():
    from course_utils.exercises import ch02
    from course_utils.imaging.nnunet_plans import target_spacing

    assert ch02.check_target_spacing(ch02.target_spacing_solution).correct
    assert ch02.check_target_spacing(lambda sp, sh: target_spacing(sp, sh)).correct  # the package's own version
    assert ch02.check_target_spacing(untouched).status == NOT_ATTEMPTED
    fb = ch02.check_target_spacing(lambda sp, sh: np.median(sp, axis=0))
    assert fb.status == INCORRECT and "10th percentile" in fb.message
    fb = ch02.check_target_spacing(lambda sp, sh: np.mean(sp, axis=0))
    assert fb.status == INCORRECT and "median" in fb.message
    assert ch02.check_needs_cascade(ch02.needs_cascade_solution).correct
    assert ch02.check_needs_cascade(untouched).status == NOT_ATTEMPTED
    fb = ch02.check_needs_cascade(lambda p, m: np.prod(p) / np.prod(m) < 0.25)  # step 1 only: the old rule
    assert fb.status == INCORRECT and "only starts the search" in fb.message and "2x fewer" in fb.message
    assert not ch02.needs_cascade_solution([96, 96, 96], [160, 160, 160])  # searched, then dropped
    from course_utils.imaging.nnunet_plans import lowres_needed

    for patch, median in [([96] * 3, [160] * 3), ([64] * 3, [160] * 3), ([128] * 3, [240] * 3), ([96] * 3, [320] * 3)]:
        assert ch02.needs_cascade_solution(patch, median) == lowres_needed(patch, median)


def test_chapter4_exercise():
    from course_utils.exercises import ch04

    assert ch04.check_moves_label(ch04.moves_label_solution).correct
    assert ch04.check_moves_label(untouched).status == NOT_ATTEMPTED
    fb = ch04.check_moves_label(lambda n: n != "Gaussian noise")
    assert fb.status == INCORRECT and "low resolution" in fb.message.lower()
    fb = ch04.check_moves_label(lambda n: n in ("rotation", "scaling", "elastic deformation"))
    assert fb.status == INCORRECT and "Mirroring flips" in fb.message


def test_chapter3_exercise():
    from course_utils.exercises import ch03

    assert ch03.check_masked_zscore(ch03.masked_zscore_solution).correct
    assert ch03.check_masked_zscore(untouched).status == NOT_ATTEMPTED
    fb = ch03.check_masked_zscore(lambda im, m: (im - im.mean()) / im.std())
    assert fb.status == INCORRECT and "whole image" in fb.message
    fb = ch03.check_masked_zscore(lambda im, m: np.where(m, (im - im[m].mean()) / im[m].std(), 0.0))
    assert fb.status == INCORRECT and "outside it" in fb.message


def test_chapter6_exercises():
    from scipy import ndimage

    from course_utils.exercises import ch06

    assert ch06.check_mean_of_fold_means(ch06.mean_of_fold_means_solution).correct
    assert ch06.check_mean_of_fold_means(untouched).status == NOT_ATTEMPTED
    fb = ch06.check_mean_of_fold_means(lambda d, f: float(np.mean(d)))
    assert fb.status == INCORRECT and "pooled mean" in fb.message

    assert ch06.check_blend_tiles(ch06.blend_tiles_solution).correct
    assert ch06.check_blend_tiles(untouched).status == NOT_ATTEMPTED
    fb = ch06.check_blend_tiles(lambda t, s, sh, w: ch06.blend_tiles_solution(t, s, sh, np.ones_like(w)))
    assert fb.status == INCORRECT and "plain average" in fb.message

    def unnormalised(tiles, starts, shape, weights):
        out = np.zeros(shape)
        for tile, (y, x) in zip(tiles, starts):
            out[y:y + tile.shape[0], x:x + tile.shape[1]] += tile * weights
        return out

    fb = ch06.check_blend_tiles(unnormalised)
    assert fb.status == INCORRECT and "divide it by the summed weights" in fb.message

    assert ch06.check_keep_largest_component(ch06.keep_largest_component_solution).correct
    assert ch06.check_keep_largest_component(untouched).status == NOT_ATTEMPTED

    def face_connected(mask):
        labels, n = ndimage.label(mask)
        return labels == np.argmax(np.bincount(labels.ravel())[1:]) + 1 if n else np.zeros_like(mask)

    fb = ch06.check_keep_largest_component(face_connected)
    assert fb.status == INCORRECT and "full connectivity" in fb.message
    fb = ch06.check_keep_largest_component(lambda m: m)
    assert fb.status == INCORRECT and "Nothing was removed" in fb.message


def test_claims_waived_only_at_rehearsal_scale_and_always_logged(monkeypatch, tmp_path):
    import json

    log = tmp_path / "claims.jsonl"
    monkeypatch.setenv("COURSE_CLAIMS_LOG", str(log))
    monkeypatch.delenv("COURSE_SCHEDULE_OVERRIDE", raising=False)
    with pytest.raises(ClaimError):  # outside a rehearsal at_scale changes nothing
        claim(False, "the model learned", at_scale="two steps teach nothing")
    monkeypatch.setenv("COURSE_SCHEDULE_OVERRIDE", '{"10": {"epochs": 0.1}}')
    claim(False, "the model learned", at_scale="two steps teach nothing")
    claim_between(0.9, 0, 1, "a fraction")
    with pytest.raises(ClaimError):  # without a reason a failing claim still stops a rehearsal
        claim_close(1.0, 2.0, "one is two")
    rows = [json.loads(line) for line in log.read_text().splitlines()]
    assert [r["outcome"] for r in rows] == ["failed", "waived", "held", "failed"]
    assert rows[1]["at_scale"] == "two steps teach nothing"
