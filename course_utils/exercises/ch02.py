"""Chapter 2 exercises (nnU-Net dataset and plans): checkers and their solutions."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ..imaging.nnunet_plans import LOWRES_MIN_SHRINK, LOWRES_THRESHOLD_V2, lowres_search
from . import CORRECT, INCORRECT, Feedback, attempt

__all__ = ["target_spacing_solution", "check_target_spacing", "needs_cascade_solution", "check_needs_cascade",
           "fingerprints"]


def target_spacing_solution(spacings: np.ndarray, shapes: np.ndarray) -> np.ndarray:
    """Solution to exercise 2.1: nnU-Net's full-resolution target spacing (arrays in z, y, x order)."""
    spacing = np.median(spacings, axis=0)
    size = np.median(shapes, axis=0)
    worst = int(np.argmax(spacing))
    others = [i for i in range(3) if i != worst]
    anisotropic = spacing[worst] > 3 * max(spacing[others]) and size[worst] * 3 < min(size[others])
    if anisotropic:
        spacing[worst] = max(np.percentile(spacings[:, worst], 10), max(spacing[others]) + 1e-5)
    return spacing


def needs_cascade_solution(patch_size: Sequence[int], median_shape: Sequence[float]) -> bool:
    """Solution to exercise 2.2: does nnU-Net v2 add a low-resolution (cascade) configuration? (isotropic data)"""
    patch = np.asarray(patch_size, dtype=float)
    median = np.asarray(median_shape, dtype=float)
    factor, lowres_median, lowres_patch = 1.0, median, patch
    # step 1: while the patch covers less than 25% of the median image, coarsen the spacing by 3%
    while np.prod(lowres_patch) / np.prod(lowres_median) < 0.25:
        factor *= 1.03
        lowres_median = median / factor
        lowres_patch = np.minimum(patch, np.round(lowres_median))  # the same GPU budget, clipped to the image
    # step 2: keep the low-resolution configuration only if its median image has at least 2x fewer voxels
    return factor > 1.0 and np.prod(median) / np.prod(lowres_median) >= 2


def fingerprints() -> list[tuple[np.ndarray, np.ndarray]]:
    """Return (spacings, shapes) of test datasets: isotropic, anisotropic, anisotropic with varied slices."""
    rng = np.random.default_rng(2)
    iso = (rng.uniform(0.9, 1.1, (9, 3)), rng.integers(120, 160, (9, 3)).astype(float))
    thick = np.column_stack([rng.choice([4.0, 5.0, 6.0, 8.0], 11), rng.uniform(0.7, 0.9, 11), rng.uniform(0.7, 0.9, 11)])
    aniso = (thick, np.column_stack([rng.integers(18, 30, 11), rng.integers(220, 260, 11), rng.integers(220, 260, 11)]).astype(float))
    mild = (np.column_stack([np.full(7, 2.0), np.full(7, 1.0), np.full(7, 1.0)]), rng.integers(100, 140, (7, 3)).astype(float))
    return [iso, aniso, mild]


def check_target_spacing(fn: Callable[[np.ndarray, np.ndarray], Any]) -> Feedback:
    """Check exercise 2.1 on isotropic and anisotropic fingerprints."""
    name = "Exercise 2.1, target spacing"
    for spacings, shapes in fingerprints():
        answer, stop = attempt(name, fn, spacings.copy(), shapes.copy())
        if stop:
            return stop
        got = np.asarray(answer, dtype=float).ravel()
        expected = target_spacing_solution(spacings, shapes)
        if got.shape == (3,) and np.allclose(got, expected, atol=1e-4):
            continue
        if got.shape == (3,) and np.allclose(got, np.median(spacings, axis=0)):
            hint = ("That is the median spacing, right for this dataset's in-plane axes, but its slices are thick and "
                    "few: nnU-Net then takes the 10th percentile of the slice spacing instead.")
        elif got.shape == (3,) and np.allclose(got, np.mean(spacings, axis=0)):
            hint = "nnU-Net uses the median (50th percentile) spacing, not the mean."
        else:
            hint = f"Expected {np.round(expected, 4).tolist()}, got {np.round(got, 4).tolist()}."
        return Feedback(name, INCORRECT, hint)
    return Feedback(name, CORRECT, "Right on isotropic and anisotropic datasets.")


def check_needs_cascade(fn: Callable[[Sequence[int], Sequence[float]], Any]) -> Feedback:
    """Check exercise 2.2 on patch / median-shape pairs: no search, search then dropped, search then kept."""
    name = "Exercise 2.2, cascade rule"
    cases = [([128, 128, 128], [138, 169, 138]), ([96, 96, 96], [160, 160, 160]), ([64, 64, 64], [160, 160, 160]),
             ([40, 48, 40], [38.5, 45.5, 37.5]), ([128, 128, 128], [240, 240, 240]), ([96, 96, 96], [320, 320, 320])]
    for patch, median in cases:
        answer, stop = attempt(name, fn, patch, median)
        if stop:
            return stop
        search = lowres_search(patch, median)
        if bool(answer) == search.kept:
            continue
        covered = float(np.prod(patch) / np.prod(median))
        if bool(answer) == (covered < LOWRES_THRESHOLD_V2):
            hint = (f"A patch {patch} covers {covered:.1%} of the median image {median}: below "
                    f"{LOWRES_THRESHOLD_V2:.0%} only starts the search. nnU-Net coarsens the spacing by 3% per step "
                    f"until the patch covers {LOWRES_THRESHOLD_V2:.0%} ({search.steps} steps here), then drops the "
                    f"configuration unless the low-resolution median has at least {LOWRES_MIN_SHRINK:.0f}x fewer "
                    f"voxels (here {search.shrink:.2f}x).")
        else:
            hint = (f"A patch {patch} in a median image {median} covers {covered:.1%} of its voxels; the search "
                    f"{'ran ' + str(search.steps) + ' steps' if search.searched else 'does not run'} and the "
                    f"low-resolution median has {search.shrink:.2f}x fewer voxels.")
        return Feedback(name, INCORRECT, hint)
    return Feedback(name, CORRECT, "Right: both steps of nnU-Net v2's rule.")
