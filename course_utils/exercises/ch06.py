"""Chapter 6 exercises (training, inference, evaluation): checkers and their solutions."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from scipy import ndimage

from . import CORRECT, INCORRECT, Feedback, attempt

__all__ = [
    "mean_of_fold_means_solution",
    "check_mean_of_fold_means",
    "blend_tiles_solution",
    "check_blend_tiles",
    "keep_largest_component_solution",
    "check_keep_largest_component",
]


# ---------------------------------------------------------------------------------------------- 6.1
def mean_of_fold_means_solution(dice: Sequence[float], fold: Sequence[int]) -> float:
    """Solution to exercise 6.1: the mean over folds of each fold's mean Dice (how the seed reports CV)."""
    dice_arr, fold_arr = np.asarray(dice, dtype=float), np.asarray(fold)
    return float(np.mean([dice_arr[fold_arr == f].mean() for f in np.unique(fold_arr)]))


def _cv_examples() -> list[tuple[list[float], list[int]]]:
    rng = np.random.default_rng(6)
    uneven_folds = [0] * 2 + [1] * 5 + [2] * 3
    return [
        ([0.9, 0.8, 0.7, 0.95, 0.85, 0.6], [0, 0, 1, 1, 2, 2]),
        (list(rng.uniform(0.5, 1.0, 10).round(3)), uneven_folds),  # unequal fold sizes: pooled mean differs
    ]


def check_mean_of_fold_means(fn: Callable[[Sequence[float], Sequence[int]], Any]) -> Feedback:
    """Check exercise 6.1 (``fn(dice, fold) -> float``), with folds of unequal size."""
    name = "Exercise 6.1, mean of the fold means"
    for dice, fold in _cv_examples():
        answer, stop = attempt(name, fn, list(dice), list(fold))
        if stop:
            return stop
        expected = mean_of_fold_means_solution(dice, fold)
        try:
            got = float(answer)
        except (TypeError, ValueError):
            return Feedback(name, INCORRECT, f"Return one number; got {answer!r}.")
        if np.isclose(got, expected, atol=1e-9):
            continue
        if np.isclose(got, float(np.mean(dice)), atol=1e-9):
            hint = ("That is the pooled mean over all cases. The seed reports each fold's mean first, then their "
                    "mean; with folds of different sizes the two differ.")
        elif np.isclose(got, float(np.median(dice)), atol=1e-9):
            hint = "That is a median; take means."
        else:
            hint = f"For Dice {dice} and folds {fold} expected {expected:.4f}, got {got:.4f}."
        return Feedback(name, INCORRECT, hint)
    return Feedback(name, CORRECT, "Right: one mean per fold, then the mean of those.")


# ---------------------------------------------------------------------------------------------- 6.2
def blend_tiles_solution(tiles: Sequence[np.ndarray], starts: Sequence[Sequence[int]], shape: Sequence[int],
                         weights: np.ndarray) -> np.ndarray:
    """Solution to exercise 6.2: Gaussian-weighted average of overlapping tile predictions (nnU-Net's blending)."""
    total = np.zeros(tuple(shape), dtype=np.float64)
    norm = np.zeros(tuple(shape), dtype=np.float64)
    for tile, start in zip(tiles, starts):
        window = tuple(slice(s, s + n) for s, n in zip(start, tile.shape))
        total[window] += tile * weights
        norm[window] += weights
    return total / norm


def _blend_example(seed: int) -> tuple[list[np.ndarray], list[tuple[int, int]], tuple[int, int], np.ndarray]:
    rng = np.random.default_rng(seed)
    patch, shape = (6, 8), (10, 14)
    starts = [(y, x) for y in (0, 2, 4) for x in (0, 3, 6)]
    yy, xx = np.meshgrid(np.arange(patch[0]) - (patch[0] - 1) / 2, np.arange(patch[1]) - (patch[1] - 1) / 2, indexing="ij")
    weights = np.exp(-(yy**2 + xx**2) / 8.0)
    tiles = [rng.normal(size=patch) for _ in starts]
    return tiles, starts, shape, weights


def check_blend_tiles(fn: Callable[..., Any]) -> Feedback:
    """Check exercise 6.2 (``fn(tiles, starts, shape, weights) -> array``) on overlapping 2-D tiles."""
    name = "Exercise 6.2, Gaussian blending of tiles"
    for seed in (0, 1):
        tiles, starts, shape, weights = _blend_example(seed)
        answer, stop = attempt(name, fn, [t.copy() for t in tiles], list(starts), shape, weights.copy())
        if stop:
            return stop
        got = np.asarray(answer, dtype=float)
        expected = blend_tiles_solution(tiles, starts, shape, weights)
        if got.shape != expected.shape:
            return Feedback(name, INCORRECT, f"Return an array of the image's shape {shape}; got shape {got.shape}.")
        if np.allclose(got, expected, atol=1e-8):
            continue
        plain = blend_tiles_solution(tiles, starts, shape, np.ones_like(weights))
        summed = sum(_place(t * weights, s, shape) for t, s in zip(tiles, starts))
        if np.allclose(got, plain, atol=1e-8):
            hint = "That is a plain average of the tiles: weight each tile's values by the Gaussian first."
        elif np.allclose(got, summed, atol=1e-8):
            hint = ("The weighted sum is right, but divide it by the summed weights per pixel, or pixels where more "
                    "tiles overlap come out larger.")
        else:
            hint = "Add tile * weights into the image and weights into a second array at each start; divide the two."
        return Feedback(name, INCORRECT, hint)
    return Feedback(name, CORRECT, "Right: this is how nnU-Net combines overlapping patch predictions.")


def _place(values: np.ndarray, start: Sequence[int], shape: Sequence[int]) -> np.ndarray:
    out = np.zeros(tuple(shape))
    out[tuple(slice(s, s + n) for s, n in zip(start, values.shape))] = values
    return out


# ---------------------------------------------------------------------------------------------- 6.3
def keep_largest_component_solution(mask: np.ndarray) -> np.ndarray:
    """Solution to exercise 6.3: keep only the largest connected component of a binary mask (voxels touching at
    a face, an edge or a corner are connected, as in nnU-Net; components tied for largest are all kept)."""
    labels, n = ndimage.label(mask, structure=np.ones((3,) * mask.ndim))
    if n == 0:
        return np.zeros_like(mask, dtype=bool)
    sizes = np.bincount(labels.ravel())[1:]
    return np.isin(labels, np.flatnonzero(sizes == sizes.max()) + 1)


def _component_examples() -> list[np.ndarray]:
    big = np.zeros((12, 14, 16), dtype=bool)
    big[2:8, 3:10, 4:12] = True
    big[9:11, 11:13, 13:15] = True  # a small blob apart
    big[0, 0, 0] = True  # one stray voxel
    diagonal = np.zeros((8, 8, 8), dtype=bool)
    diagonal[1:4, 1:4, 1:4] = True
    diagonal[4, 4, 4] = True  # touches the first block at a corner and the second along an edge
    diagonal[5:8, 5:8, 5:8] = True
    diagonal[5:8, 5:8, 4] = True  # the second block is the larger one
    return [big, diagonal, np.zeros((4, 4, 4), dtype=bool)]


def check_keep_largest_component(fn: Callable[[np.ndarray], Any]) -> Feedback:
    """Check exercise 6.3 against nnU-Net's own ``remove_all_but_largest_component``."""
    from acvl_utils.morphology.morphology_helper import remove_all_but_largest_component

    name = "Exercise 6.3, keep the largest component"
    for mask in _component_examples():
        answer, stop = attempt(name, fn, mask.copy())
        if stop:
            return stop
        got = np.asarray(answer).astype(bool)
        expected = remove_all_but_largest_component(mask.copy())
        if got.shape != mask.shape:
            return Feedback(name, INCORRECT, f"Return a mask of the input's shape {mask.shape}; got {got.shape}.")
        if np.array_equal(got, expected):
            continue
        faces = ndimage.label(mask)[0]
        if faces.max() and np.array_equal(got, faces == np.argmax(np.bincount(faces.ravel())[1:]) + 1):
            hint = ("nnU-Net counts voxels touching at an edge or a corner as connected too (full connectivity); "
                    "scipy.ndimage.label joins only faces unless you pass structure=np.ones((3, 3, 3)).")
        elif np.array_equal(got, mask):
            hint = "Nothing was removed: label the components (scipy.ndimage.label) and keep the one with most voxels."
        elif mask.any() and not got.any():
            hint = "Everything was removed; keep the largest component."
        else:
            hint = "Label the components, count the voxels of each (np.bincount), keep the largest."
        return Feedback(name, INCORRECT, hint)
    return Feedback(name, CORRECT, "Equal to nnU-Net's remove_all_but_largest_component, empty mask included.")
