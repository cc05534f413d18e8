"""Chapter 3 exercises (preprocessing): checkers and their solutions."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ..imaging.preprocessing import zscore
from . import CORRECT, INCORRECT, Feedback, attempt

__all__ = ["masked_zscore_solution", "check_masked_zscore", "test_images"]


def masked_zscore_solution(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Solution to exercise 3.1: z-score with statistics from inside the mask, applied inside it only."""
    out = image.astype(np.float32).copy()
    inside = out[mask]
    out[mask] = (inside - inside.mean()) / max(float(inside.std()), 1e-8)
    return out


def test_images() -> list[tuple[np.ndarray, np.ndarray]]:
    """Return (image, mask) pairs: a brain-like blob on a zero background, and one with a non-zero outside."""
    rng = np.random.default_rng(3)
    zz, yy, xx = np.mgrid[:20, :24, :22]
    blob = ((zz - 10) ** 2 / 64 + (yy - 12) ** 2 / 81 + (xx - 11) ** 2 / 64) < 1
    brain = np.where(blob, rng.normal(600, 80, blob.shape), 0.0)
    noisy_outside = brain + np.where(blob, 0, rng.normal(20, 5, blob.shape))
    return [(brain, blob), (noisy_outside, blob)]


def check_masked_zscore(fn: Callable[[np.ndarray, np.ndarray], Any]) -> Feedback:
    """Check exercise 3.1 against the course's (nnU-Net-equal) ``zscore``."""
    name = "Exercise 3.1, masked z-score"
    for image, mask in test_images():
        answer, stop = attempt(name, fn, image.copy(), mask.copy())
        if stop:
            return stop
        got = np.asarray(answer, dtype=np.float64)
        expected = zscore(image, mask).astype(np.float64)
        if got.shape == expected.shape and np.allclose(got, expected, atol=1e-4):
            continue
        whole = (image - image.mean()) / image.std()
        if got.shape == expected.shape and np.allclose(got[mask], whole[mask], atol=1e-4):
            hint = ("The statistics came from the whole image, background included: take the mean and standard "
                    "deviation of the voxels inside the mask only.")
        elif got.shape == expected.shape and np.allclose(got[mask], expected[mask], atol=1e-4):
            hint = "Inside the mask it is right; outside it, leave the voxels as they were (nnU-Net does not touch them)."
        else:
            hint = "Compare with (image - mean) / std, where mean and std come from image[mask]."
        return Feedback(name, INCORRECT, hint)
    return Feedback(name, CORRECT, "Equal to nnU-Net's ZScoreNormalization with use_mask_for_norm.")
