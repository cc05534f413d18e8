"""Chapter 5 exercises (network, loss and metrics): checkers and their solutions.

5.1 soft Dice with smoothing on tensors; 5.2 HD95 in millimetres with its rule for empty masks; 5.3 nnU-Net's
deep-supervision weights. The masks the checkers use (:func:`ball_mask`, :func:`box_mask`) also serve the
chapter's worked examples.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

from ..imaging.losses import deep_supervision_weights, soft_dice
from ..imaging.metrics import hd95, surface_distances
from . import CORRECT, INCORRECT, Feedback, attempt

__all__ = [
    "ball_mask",
    "box_mask",
    "soft_dice_solution",
    "check_soft_dice",
    "dice_cases",
    "hd95_solution",
    "check_hd95",
    "hd95_cases",
    "ds_weights_solution",
    "check_ds_weights",
]


# --- shapes with known answers ------------------------------------------------------------------------------


def ball_mask(shape: Sequence[int], radius_mm: float, spacing_zyx: Sequence[float] = (1.0, 1.0, 1.0),
              centre: Sequence[float] | None = None) -> np.ndarray:
    """Return a boolean ball of ``radius_mm`` millimetres around ``centre`` (chapter 5).

    Round in space even on anisotropic voxels; ``centre`` is in voxel indices (default: the middle of the grid).
    """
    centre = [(n - 1) / 2 for n in shape] if centre is None else list(centre)
    grids = np.ogrid[tuple(slice(0, n) for n in shape)]
    squared = sum(((g - c) * s) ** 2 for g, c, s in zip(grids, centre, spacing_zyx))
    return np.asarray(squared <= radius_mm**2)


def box_mask(shape: Sequence[int], start: Sequence[int], size: Sequence[int]) -> np.ndarray:
    """Return a boolean box of ``size`` voxels whose first voxel is ``start`` (z, y, x) (chapter 5)."""
    mask = np.zeros(tuple(shape), dtype=bool)
    mask[tuple(slice(a, a + n) for a, n in zip(start, size))] = True
    return mask


# --- 5.1 soft Dice ---------------------------------------------------------------------------------------------


def soft_dice_solution(probs: torch.Tensor, target: torch.Tensor, smooth: float) -> torch.Tensor:
    """Solution to exercise 5.1: soft Dice (2 sum p*y + s) / (sum p + sum y + s) per sample and class, [B, C]."""
    axes = tuple(range(2, probs.ndim))
    intersection = (probs * target).sum(axes)
    return (2 * intersection + smooth) / (probs.sum(axes) + target.sum(axes) + smooth)


def dice_cases() -> list[tuple[torch.Tensor, torch.Tensor, float]]:
    """Return (probabilities, one-hot target, smooth) test cases for exercise 5.1 (chapter 5).

    Random cases, and one where a class is absent from both target and prediction (where only the smoothing keeps
    the ratio defined).
    """
    gen = torch.Generator().manual_seed(5)
    probs = torch.softmax(3 * torch.randn(2, 3, 6, 7, 5, generator=gen), dim=1)
    labels = torch.randint(0, 3, (2, 6, 7, 5), generator=gen)
    target = torch.nn.functional.one_hot(labels, 3).permute(0, 4, 1, 2, 3).float()
    empty_target = target.clone()
    empty_target[1, 0] += empty_target[1, 2]
    empty_target[1, 2] = 0  # class 2 absent from sample 1 ...
    empty_probs = probs.clone()
    empty_probs[1, 0] += empty_probs[1, 2]
    empty_probs[1, 2] = 0  # ... and never predicted there
    return [(probs, target, 1.0), (probs, target, 1e-5), (empty_probs, empty_target, 1e-5)]


def check_soft_dice(fn: Callable[[torch.Tensor, torch.Tensor, float], Any]) -> Feedback:
    """Check exercise 5.1 against the course's soft Dice (equal to nnU-Net's), with hints for common slips."""
    name = "Exercise 5.1, soft Dice with smoothing"
    for probs, target, smooth in dice_cases():
        answer, stop = attempt(name, fn, probs.clone(), target.clone(), smooth)
        if stop:
            return stop
        got = torch.as_tensor(answer, dtype=torch.float64)
        expected = soft_dice(probs.double(), target.double(), batch_dice=False, smooth=smooth)
        if got.shape == expected.shape and torch.allclose(got, expected, atol=1e-5):
            continue
        return Feedback(name, INCORRECT, _dice_hint(got, probs.double(), target.double(), smooth, expected))
    return Feedback(name, CORRECT, "Equal to nnU-Net's soft Dice per sample and class (MemoryEfficientSoftDiceLoss).")


def _dice_hint(got: torch.Tensor, probs: torch.Tensor, target: torch.Tensor, smooth: float, expected: torch.Tensor) -> str:
    axes = tuple(range(2, probs.ndim))
    inter, p, y = (probs * target).sum(axes), probs.sum(axes), target.sum(axes)

    def same(candidate: torch.Tensor) -> bool:
        return got.shape == candidate.shape and bool(torch.allclose(got, candidate, atol=1e-5, equal_nan=True))

    if same(soft_dice(probs, target, batch_dice=True, smooth=smooth)):
        return ("You summed over the batch as well: that is nnU-Net's batch Dice (one score per class). Sum over the "
                "voxels of each sample only, axes 2 and beyond, so the result is [batch, class].")
    if same(1 - expected) or same(-expected):
        return "That is a loss (1 - Dice or -Dice). Return the Dice coefficient itself; the loss comes later."
    if same((2 * inter) / (p + y)):
        return "The smoothing term is missing: add `smooth` to both the numerator and the denominator."
    if same((2 * inter + smooth) / (p + y)) or same(2 * inter / (p + y + smooth)):
        return "Add `smooth` to both the numerator and the denominator, not to one of them."
    if same((2 * inter + smooth) / ((probs**2).sum(axes) + (target**2).sum(axes) + smooth)):
        return ("You squared the terms of the denominator, as V-Net's Dice loss does. nnU-Net sums the probabilities "
                "and the target directly.")
    if same((inter + smooth) / (p + y - inter + smooth)):
        return "That is the soft Jaccard index (intersection over union). Dice is 2|A and B| / (|A| + |B|)."
    if got.shape != expected.shape:
        return f"Expected one value per sample and class, shape {tuple(expected.shape)}; got {tuple(got.shape)}."
    return "Compare with (2 * sum(p * y) + smooth) / (sum(p) + sum(y) + smooth), sums over the spatial axes."


# --- 5.2 HD95 ---------------------------------------------------------------------------------------------------


def hd95_solution(pred: np.ndarray, ref: np.ndarray, spacing_zyx: Sequence[float]) -> float:
    """Solution to exercise 5.2: symmetric HD95 in mm; 0 when both masks are empty, NaN when one is."""
    if not pred.any() and not ref.any():
        return 0.0
    if not pred.any() or not ref.any():
        return float("nan")
    both = np.concatenate([surface_distances(pred, ref, spacing_zyx), surface_distances(ref, pred, spacing_zyx)])
    return float(np.percentile(both, 95))


def hd95_cases() -> list[tuple[str, np.ndarray, np.ndarray, tuple[float, float, float]]]:
    """Return (description, prediction, reference, spacing z, y, x) test cases for exercise 5.2 (chapter 5)."""
    spacing = (3.0, 1.0, 0.5)
    shape = (20, 48, 64)
    ball = ball_mask(shape, 10, spacing, (10, 24, 32))
    with_blob = ball_mask(shape, 9, spacing, (10, 25, 34)) | ball_mask(shape, 3, spacing, (10, 8, 56))
    cube = box_mask((16, 24, 40), (4, 6, 8), (8, 12, 12))
    empty = np.zeros(shape, dtype=bool)
    return [
        ("a smaller ball off-centre plus a distant false-positive blob, voxels 3 x 1 x 0.5 mm", with_blob, ball, spacing),
        ("the same two masks with prediction and reference swapped", ball, with_blob, spacing),
        ("a cube shifted by 4 voxels along x, voxels 3 x 1 x 0.5 mm", np.roll(cube, 4, axis=2), cube, spacing),
        ("a cube shifted by 2 slices along z, voxels 3 x 1 x 0.5 mm", np.roll(cube, 2, axis=0), cube, spacing),
        ("both masks empty", empty, empty.copy(), spacing),
        ("an empty prediction of a non-empty reference", empty, ball, spacing),
        ("a prediction where the reference is empty", ball, empty, spacing),
    ]


def check_hd95(fn: Callable[[np.ndarray, np.ndarray, Sequence[float]], Any]) -> Feedback:
    """Check exercise 5.2 against the course's ``hd95`` (tested on known answers and a KD-tree reference).

    Every case runs first; a wrong answer on masks with surfaces is then compared, over all such cases at once,
    with the usual slips (voxels, one direction, another convention, the maximum, the mean).
    """
    name = "Exercise 5.2, HD95 in millimetres"
    cases = hd95_cases()
    answers = []
    for _description, pred, ref, spacing in cases:
        answer, stop = attempt(name, fn, pred.copy(), ref.copy(), spacing)
        if stop:
            return stop
        try:
            answers.append(float(answer))
        except (TypeError, ValueError):
            return Feedback(name, INCORRECT, f"Return one number (a float); got {type(answer).__name__}.")
    wrong = [i for i, ((_, pred, ref, spacing), got) in enumerate(zip(cases, answers))
             if not _same(got, hd95(pred, ref, spacing))]
    if not wrong:
        return Feedback(name, CORRECT, "Symmetric, in mm, 95th percentile of both surface-distance sets, empty masks handled.")
    for i in wrong:
        description, pred, ref, _ = cases[i]
        if not pred.any() and not ref.any():
            return Feedback(name, INCORRECT, f"On {description}: the segmentations agree, so the distance is 0.0 (there "
                            f"is no surface to measure, but nothing is wrong). You returned {answers[i]}.")
        if not pred.any() or not ref.any():
            return Feedback(name, INCORRECT, f"On {description}: no distance exists. Return NaN (float('nan')) so the "
                            "case stands out and np.nanmean leaves it out; BraTS gives such a case a fixed penalty "
                            f"instead. You returned {answers[i]}.")
    measurable = [i for i, (_, pred, ref, _) in enumerate(cases) if pred.any() and ref.any()]
    for slip, hint in _HD95_SLIPS:
        if all(_same(answers[i], slip(*cases[i][1:])) for i in measurable):
            return Feedback(name, INCORRECT, hint)
    description, pred, ref, spacing = cases[wrong[0]]
    return Feedback(name, INCORRECT, f"On {description}: expected {hd95(pred, ref, spacing):.4f} mm, got {answers[wrong[0]]:.4f}.")


def _same(got: float, expected: float) -> bool:
    return (math.isnan(expected) and math.isnan(got)) or math.isclose(got, expected, rel_tol=1e-6, abs_tol=1e-6)


def _directed(pred: np.ndarray, ref: np.ndarray, spacing: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    return surface_distances(pred, ref, spacing), surface_distances(ref, pred, spacing)


_HD95_SLIPS: list[tuple[Callable[[np.ndarray, np.ndarray, Sequence[float]], float], str]] = [
    (lambda p, r, s: hd95(p, r, (1.0, 1.0, 1.0)),
     "That is the distance in voxels. Pass the spacing (z, y, x) in mm to surface_distances, so each axis is scaled "
     "by its own voxel size."),
    (lambda p, r, s: hd95(p, r, tuple(s)[::-1]),
     "The spacing is in the wrong order: the arrays are indexed [z, y, x], so the spacing must be (z, y, x) too."),
    (lambda p, r, s: float(np.percentile(_directed(p, r, s)[0], 95)),
     "You measured one direction only (prediction to reference). HD95 is symmetric: pool the distances of both "
     "directions."),
    (lambda p, r, s: float(np.percentile(_directed(p, r, s)[1], 95)),
     "You measured one direction only (reference to prediction). HD95 is symmetric: pool the distances of both "
     "directions."),
    (lambda p, r, s: max(float(np.percentile(d, 95)) for d in _directed(p, r, s)),
     "That is the larger of the two directed 95th percentiles, the convention of MONAI and DeepMind's "
     "surface-distance package. This course pools both distance sets and takes one 95th percentile (MedPy's)."),
    (lambda p, r, s: float(np.concatenate(_directed(p, r, s)).max()),
     "That is the maximum, the plain Hausdorff distance. HD95 takes the 95th percentile, which ignores the worst 5% "
     "of surface points."),
    (lambda p, r, s: float(np.concatenate(_directed(p, r, s)).mean()),
     "That is the mean (the average symmetric surface distance). HD95 takes the 95th percentile."),
]


# --- 5.3 deep-supervision weights ---------------------------------------------------------------------------------


def ds_weights_solution(n_outputs: int) -> list[float]:
    """Solution to exercise 5.3: weights 1/2^i for output i (finest first), the coarsest 0, normalised to sum 1."""
    weights = [1 / 2**i for i in range(n_outputs)]
    if n_outputs > 1:
        weights[-1] = 0.0
    total = sum(weights)
    return [w / total for w in weights]


def check_ds_weights(fn: Callable[[int], Any]) -> Feedback:
    """Check exercise 5.3 against nnU-Net's rule for 3 to 6 outputs (nnU-Net's trainer is compared in the tests)."""
    name = "Exercise 5.3, deep-supervision weights"
    for n in (3, 4, 5, 6):
        answer, stop = attempt(name, fn, n)
        if stop:
            return stop
        got = np.asarray(answer, dtype=float).ravel()
        expected = np.asarray(deep_supervision_weights(n))
        if got.shape == expected.shape and np.allclose(got, expected, atol=1e-9):
            continue
        raw = np.array([1 / 2**i for i in range(n)])
        zeroed = raw.copy()
        zeroed[-1] = 0
        if got.shape != expected.shape:
            hint = f"Return one weight per output: {n} outputs, got {got.size} weights."
        elif np.allclose(got, raw) or np.allclose(got, raw / raw.sum()):
            hint = "nnU-Net gives the coarsest output weight 0 (before normalising)."
        elif np.allclose(got, zeroed):
            hint = "Right shape and zero, but normalise: divide by the sum so the weights add up to 1."
        elif np.allclose(got, expected[::-1]) or np.allclose(got, (raw / raw.sum())[::-1]):
            hint = "The order is reversed: output 0 is the finest (full resolution) and gets the largest weight."
        elif np.isclose(got[-1], 0) and not np.isclose(got.sum(), 1):
            hint = "Set the coarsest weight to 0 first, then normalise, so the weights still add up to 1."
        else:
            hint = f"For {n} outputs expected {np.round(expected, 4).tolist()}, got {np.round(got, 4).tolist()}."
        return Feedback(name, INCORRECT, hint)
    return Feedback(name, CORRECT, "Equal to nnU-Net's DeepSupervisionWrapper weights.")
