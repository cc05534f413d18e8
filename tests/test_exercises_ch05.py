"""Chapter 5 exercises: each solution passes, an untouched cell is "not attempted yet", typical slips get hints."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from course_utils.exercises import CORRECT, INCORRECT, NOT_ATTEMPTED, ch05
from course_utils.imaging.losses import deep_supervision_weights
from course_utils.imaging.metrics import hd95, surface_distances


def untouched(*args):
    ...


@pytest.mark.parametrize(("checker", "solution"), [
    (ch05.check_soft_dice, ch05.soft_dice_solution),
    (ch05.check_hd95, ch05.hd95_solution),
    (ch05.check_ds_weights, ch05.ds_weights_solution),
])
def test_solution_passes_and_untouched_cell_is_not_attempted(checker, solution):
    good = checker(solution)
    assert good.status == CORRECT and good.correct, good
    blank = checker(untouched)
    assert blank.status == NOT_ATTEMPTED and "not attempted yet" in str(blank)


def test_the_shapes_have_known_sizes():
    assert ch05.box_mask((6, 6, 6), (1, 2, 3), (2, 3, 1)).sum() == 6
    ball = ch05.ball_mask((21, 21, 21), 5.0)
    assert ball[10, 10, 10] and ball[10, 10, 15] and not ball[10, 10, 16]
    flat = ch05.ball_mask((11, 31, 31), 10.0, (5.0, 1.0, 1.0))  # 10 mm: 2 slices of 5 mm either side, 10 voxels in-plane
    assert flat[5].sum() > flat[7].sum() > 0 and flat[8].sum() == 0 and flat[5, 15].sum() == 21


def _axes(p):
    return tuple(range(2, p.ndim))


SOFT_DICE_SLIPS = {
    "batch Dice": (lambda p, y, s: (2 * (p * y).sum((0, 2, 3, 4)) + s) / (p.sum((0, 2, 3, 4)) + y.sum((0, 2, 3, 4)) + s),
                   "batch"),
    "no smoothing": (lambda p, y, s: 2 * (p * y).sum(_axes(p)) / (p.sum(_axes(p)) + y.sum(_axes(p))), "smoothing term is missing"),
    "numerator only": (lambda p, y, s: (2 * (p * y).sum(_axes(p)) + s) / (p.sum(_axes(p)) + y.sum(_axes(p))), "both the numerator"),
    "loss not coefficient": (lambda p, y, s: 1 - ch05.soft_dice_solution(p, y, s), "That is a loss"),
    "V-Net squares": (lambda p, y, s: (2 * (p * y).sum(_axes(p)) + s) / ((p**2).sum(_axes(p)) + (y**2).sum(_axes(p)) + s),
                      "V-Net"),
    "Jaccard": (lambda p, y, s: ((p * y).sum(_axes(p)) + s) / (p.sum(_axes(p)) + y.sum(_axes(p)) - (p * y).sum(_axes(p)) + s),
                "Jaccard"),
    "raises": (lambda p, y, s: p.sum(axis=7), "raised"),
}


@pytest.mark.parametrize("slip", list(SOFT_DICE_SLIPS))
def test_soft_dice_slips_get_specific_feedback(slip):
    fn, phrase = SOFT_DICE_SLIPS[slip]
    feedback = ch05.check_soft_dice(fn)
    assert feedback.status == INCORRECT and phrase in feedback.message, feedback


def test_soft_dice_numpy_answer_is_accepted():
    feedback = ch05.check_soft_dice(lambda p, y, s: ch05.soft_dice_solution(p, y, s).numpy())
    assert feedback.correct


def _directed(pred, ref, spacing, which):
    a, b = surface_distances(pred, ref, spacing), surface_distances(ref, pred, spacing)
    return {"p2r": np.percentile(a, 95), "r2p": np.percentile(b, 95), "max95": max(np.percentile(a, 95), np.percentile(b, 95)),
            "max": np.concatenate([a, b]).max(), "mean": np.concatenate([a, b]).mean()}[which]


def _guarded(fn):
    """Wrap a slip so it handles empty masks right, to reach the checker's hint on the non-empty cases."""
    def wrapped(pred, ref, spacing):
        return ch05.hd95_solution(pred, ref, spacing) if not (pred.any() and ref.any()) else fn(pred, ref, spacing)
    return wrapped


HD95_SLIPS = {
    "voxels": (_guarded(lambda p, r, s: hd95(p, r, (1.0, 1.0, 1.0))), "in voxels"),
    "x, y, z spacing": (_guarded(lambda p, r, s: hd95(p, r, tuple(s)[::-1])), "wrong order"),
    "one direction": (_guarded(lambda p, r, s: _directed(p, r, s, "p2r")), "one direction only (prediction to reference)"),
    "other direction": (_guarded(lambda p, r, s: _directed(p, r, s, "r2p")), "one direction only (reference to prediction)"),
    "max of directed": (_guarded(lambda p, r, s: _directed(p, r, s, "max95")), "MONAI"),
    "Hausdorff": (_guarded(lambda p, r, s: _directed(p, r, s, "max")), "plain Hausdorff"),
    "mean": (_guarded(lambda p, r, s: _directed(p, r, s, "mean")), "average symmetric surface distance"),
    "both empty is nan": (lambda p, r, s: float("nan") if not (p.any() and r.any()) else hd95(p, r, s), "distance is 0.0 (there"),
    "one empty is 0": (lambda p, r, s: 0.0 if not (p.any() and r.any()) else hd95(p, r, s), "Return NaN"),
    "not a number": (lambda p, r, s: "far", "one number"),
}


@pytest.mark.parametrize("slip", list(HD95_SLIPS))
def test_hd95_slips_get_specific_feedback(slip):
    fn, phrase = HD95_SLIPS[slip]
    feedback = ch05.check_hd95(fn)
    assert feedback.status == INCORRECT and phrase in feedback.message, feedback


def test_hd95_cases_have_the_known_answers():
    cases = {d: (p, r, s) for d, p, r, s in ch05.hd95_cases()}
    shifted_x = next(v for d, v in cases.items() if "along x" in d)
    shifted_z = next(v for d, v in cases.items() if "along z" in d)
    assert ch05.hd95_solution(*shifted_x) == pytest.approx(4 * 0.5)  # 4 voxels of 0.5 mm
    assert ch05.hd95_solution(*shifted_z) == pytest.approx(2 * 3.0)  # 2 slices of 3 mm


DS_SLIPS = {
    "no zero": (lambda n: [1 / 2**i for i in range(n)], "weight 0"),
    "not normalised": (lambda n: [1 / 2**i for i in range(n - 1)] + [0.0], "normalise"),
    "reversed": (lambda n: list(deep_supervision_weights(n))[::-1], "reversed"),
    "normalised then zeroed": (lambda n: [w / sum(1 / 2**j for j in range(n)) for w in [1 / 2**i for i in range(n - 1)]] + [0.0],
                               "then normalise"),
    "wrong length": (lambda n: [1.0], "one weight per output"),
}


@pytest.mark.parametrize("slip", list(DS_SLIPS))
def test_ds_weight_slips_get_specific_feedback(slip):
    fn, phrase = DS_SLIPS[slip]
    feedback = ch05.check_ds_weights(fn)
    assert feedback.status == INCORRECT and phrase in feedback.message, feedback


def test_ds_weights_solution_equals_nnunets_trainer_rule():
    assert ch05.ds_weights_solution(3) == pytest.approx([2 / 3, 1 / 3, 0.0])
    for n in range(1, 7):
        assert ch05.ds_weights_solution(n) == pytest.approx(list(deep_supervision_weights(n)))
    assert torch.is_tensor(ch05.soft_dice_solution(torch.ones(1, 2, 3), torch.ones(1, 2, 3), 1.0))
