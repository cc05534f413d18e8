"""Overlap and surface-distance metrics between segmentations (chapter 1 uses Dice to measure a mistake;
chapter 5 defines the metrics in full and checks them against nnU-Net's).

Conventions: masks and label maps are arrays indexed ``[z, y, x]`` like :class:`~course_utils.imaging.io.Volume`,
so spacings passed here are in the same array order, ``(z, y, x)`` in millimetres (``Geometry.spacing_zyx``),
not in the ``(x, y, z)`` order of ``Geometry.spacing``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
from scipy import ndimage

from .checks import check_pair
from .io import Volume

__all__ = [
    "dice",
    "dice_per_label",
    "BRATS_REGIONS",
    "brats_regions",
    "dice_brats_regions",
    "surface_mask",
    "surface_distances",
    "hd95",
    "hd95_volumes",
]

#: BraTS evaluation regions as unions of MSD Task01 labels (1 oedema, 2 non-enhancing tumour, 3 enhancing
#: tumour): whole tumour, tumour core, enhancing tumour.
BRATS_REGIONS: dict[str, tuple[int, ...]] = {"WT": (1, 2, 3), "TC": (2, 3), "ET": (3,)}


def dice(a: np.ndarray, b: np.ndarray, *, empty: float = 1.0) -> float:
    """Return the Dice coefficient 2|A and B| / (|A| + |B|) of two binary masks (``empty`` when both are empty)."""
    if a.shape != b.shape:
        raise ValueError(f"masks differ in shape: {a.shape} vs {b.shape}.")
    a, b = a.astype(bool), b.astype(bool)
    total = int(a.sum() + b.sum())
    return float(empty) if total == 0 else float(2.0 * np.logical_and(a, b).sum() / total)


def dice_per_label(pred: np.ndarray, ref: np.ndarray, labels: Iterable[int], *, empty: float = 1.0) -> dict[int, float]:
    """Return the Dice coefficient of every label value in ``labels``, one binary mask per label (chapter 5).

    ``empty`` is the score of a label absent from both maps (1.0, as in :func:`dice`; nnU-Net's evaluation
    gives NaN there and leaves it out of the mean: pass ``empty=float("nan")`` to match it).
    """
    _check_same_shape(pred, ref, "label maps")
    return {int(value): dice(pred == value, ref == value, empty=empty) for value in labels}


def brats_regions(label: np.ndarray) -> dict[str, np.ndarray]:
    """Return the BraTS region masks ``{"WT", "TC", "ET"}`` of an MSD Task01 label map (chapter 5).

    Labels 1 (oedema), 2 (non-enhancing tumour) and 3 (enhancing tumour) nest into whole tumour
    WT = {1, 2, 3}, tumour core TC = {2, 3} and enhancing tumour ET = {3}; each mask is a boolean array.
    """
    label = np.asarray(label)
    return {name: np.isin(label, values) for name, values in BRATS_REGIONS.items()}


def dice_brats_regions(pred: np.ndarray, ref: np.ndarray, *, empty: float = 1.0) -> dict[str, float]:
    """Return the Dice coefficient of each BraTS region (WT, TC, ET) of two MSD Task01 label maps (chapter 5)."""
    _check_same_shape(pred, ref, "label maps")
    pred_regions, ref_regions = brats_regions(pred), brats_regions(ref)
    return {name: dice(pred_regions[name], ref_regions[name], empty=empty) for name in BRATS_REGIONS}


def surface_mask(mask: np.ndarray) -> np.ndarray:
    """Return the surface voxels of a binary mask: the mask minus its erosion by a face-connected cross (chapter 5).

    Voxels on the border of the array count as surface (outside the array is background).
    """
    mask = np.asarray(mask).astype(bool)
    cross = ndimage.generate_binary_structure(mask.ndim, 1)
    return mask & ~ndimage.binary_erosion(mask, structure=cross, border_value=0)


def surface_distances(a: np.ndarray, b: np.ndarray, spacing_zyx: Sequence[float]) -> np.ndarray:
    """Return the distances in mm from each surface voxel of ``a`` to the nearest surface voxel of ``b`` (chapter 5).

    Distances are between voxel centres: an exact Euclidean distance transform (``sampling=spacing_zyx``) of
    the complement of b's surface, read at a's surface voxels (in ``np.argwhere`` order). An empty ``a``
    gives an empty array; an empty ``b`` (with ``a`` not empty) raises ``ValueError``, as there is nothing
    to measure to.
    """
    _check_same_shape(a, b, "masks")
    spacing = _check_spacing(spacing_zyx, np.ndim(a))
    surface_a, surface_b = surface_mask(a), surface_mask(b)
    if not surface_a.any():
        return np.zeros(0, dtype=float)
    if not surface_b.any():
        raise ValueError(
            "surface_distances: mask b is empty, so there is no surface to measure to; "
            "hd95 handles empty masks by its documented rule."
        )
    distance_to_b = ndimage.distance_transform_edt(~surface_b, sampling=spacing)
    return np.asarray(distance_to_b[surface_a], dtype=float)


def hd95(
    pred: np.ndarray, ref: np.ndarray, spacing_zyx: Sequence[float], *, empty_value: float = float("nan")
) -> float:
    """Return the symmetric 95th-percentile Hausdorff distance (HD95) in mm between two binary masks (chapter 5).

    Definition used here: the 95th percentile (``np.percentile``, linear interpolation) of the *union* of
    both directed surface-distance sets, pred-to-ref and ref-to-pred (:func:`surface_distances`), as in
    MedPy's ``hd95``. The alternative, the larger of the two directed 95th percentiles (MONAI's
    ``compute_hausdorff_distance(percentile=95)``, DeepMind's ``compute_robust_hausdorff``), is never smaller
    and can differ when one surface is much larger than the other.

    Empty masks: both empty gives 0.0 (the segmentations agree); exactly one empty gives ``empty_value``
    (default NaN, so the case is visible and left out of ``np.nanmean``). The BraTS challenge evaluation
    assigns 373.13 mm, the diagonal of its 240 x 240 x 155 1-mm image, in that case: pass
    ``empty_value=373.13`` to reproduce it. ``spacing_zyx`` is in array order, e.g. ``geometry.spacing_zyx``.
    """
    _check_same_shape(pred, ref, "masks")
    _check_spacing(spacing_zyx, np.ndim(pred))
    pred_any, ref_any = bool(np.any(pred)), bool(np.any(ref))
    if not pred_any and not ref_any:
        return 0.0
    if not (pred_any and ref_any):
        return float(empty_value)
    both = np.concatenate([surface_distances(pred, ref, spacing_zyx), surface_distances(ref, pred, spacing_zyx)])
    return float(np.percentile(both, 95))


def hd95_volumes(pred: Volume, ref: Volume, *, case_id: str = "", empty_value: float = float("nan")) -> float:
    """Return :func:`hd95` in mm of two mask volumes, with the spacing taken from their geometry (chapter 5).

    Raises :class:`~course_utils.errors.GeometryMismatchError` (through
    :func:`~course_utils.imaging.checks.check_pair`, reference as "image", prediction as "label") when the
    two do not share shape, spacing, origin and direction.
    """
    check_pair(ref, pred, case_id)
    return hd95(pred.array, ref.array, ref.geometry.spacing_zyx, empty_value=empty_value)


def _check_same_shape(a: np.ndarray, b: np.ndarray, what: str) -> None:
    if np.shape(a) != np.shape(b):
        raise ValueError(
            f"{what} differ in shape: {np.shape(a)} vs {np.shape(b)}. "
            "Compare a prediction with its reference on the same voxel grid (resample one onto the other first)."
        )


def _check_spacing(spacing: Sequence[float], ndim: int) -> np.ndarray:
    values = np.asarray(spacing, dtype=float)
    if values.shape != (ndim,) or not np.all(np.isfinite(values)) or np.any(values <= 0):
        raise ValueError(
            f"spacing must give one positive length in mm per array axis ({ndim} values, (z, y, x) for a volume); "
            f"got {tuple(spacing)}."
        )
    return values
