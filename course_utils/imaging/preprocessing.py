"""nnU-Net's preprocessing, one small function a step: crop, normalise, resample (chapter 3).

Each function reproduces what nnU-Net v2 (2.8.1) does by default, so that chapter 3 can open the black box
and the tests can check, number for number, that the course's version and nnU-Net's agree on the same data:

- cropping: ``nnunetv2.preprocessing.cropping.cropping.crop_to_nonzero`` (nonzero mask over all channels,
  holes filled, tight box, ``-1`` written into the label where the box reaches outside the mask; the -1
  steers normalisation and padding and becomes 0, background, before the loss);
- normalisation: ``ZScoreNormalization`` (optionally inside the nonzero mask) and ``CTNormalization``
  (clip to the foreground's 0.5 and 99.5 percentiles, then the foreground's mean and standard deviation);
- resampling: ``resample_data_or_seg_to_shape`` with the default planner's settings: images with a cubic
  spline, labels one label at a time with linear interpolation, and, when the voxels are anisotropic, the
  in-plane axes slice by slice and the out-of-plane axis by nearest neighbour.

Arrays follow nnU-Net: spatial axes ``[z, y, x]`` (optionally after a channel axis ``[C, z, y, x]``), and
every spacing is given in the array's axis order, ``(z, y, x)`` millimetres. A ``Volume``'s
``geometry.spacing`` is ``(x, y, z)``: reverse it first. Pure numpy/scipy: skimage's ``resize``, which
nnU-Net calls, is written out as the ``scipy.ndimage.zoom`` call it makes (see ``_skimage_resize``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from numpy.typing import ArrayLike, DTypeLike, NDArray
from scipy import ndimage

from ..errors import VolumeError

__all__ = [
    "ANISO_THRESHOLD",
    "nonzero_mask",
    "nonzero_bbox",
    "crop_to_nonzero",
    "zscore",
    "ct_normalize",
    "is_anisotropic",
    "out_of_plane_axis",
    "target_shape",
    "resample_image",
    "resample_label",
]

#: nnU-Net's ``nnunetv2.configuration.ANISO_THRESHOLD``: spacing ratio (largest / smallest) above which a
#: case is resampled slice by slice.
ANISO_THRESHOLD = 3.0

Bbox = tuple[slice, slice, slice]


# --------------------------------------------------------------------------------------------- cropping
def _channels(array: ArrayLike, what: str) -> NDArray:
    """``array`` as ``[C, z, y, x]``: a 3-D volume becomes one channel."""
    arr = np.asarray(array)
    if arr.ndim == 3:
        return arr[None]
    if arr.ndim == 4:
        return arr
    raise VolumeError(
        f"{what} must be a volume [z, y, x] or channels [C, z, y, x], got shape {arr.shape}; "
        "add or remove axes (for a Volume, pass volume.array)."
    )


def nonzero_mask(data: ArrayLike) -> NDArray[np.bool_]:
    """Return the ``[z, y, x]`` mask that is True where any channel is nonzero, holes filled (chapter 3).

    As nnU-Net's ``create_nonzero_mask``: the union over channels of ``data != 0``, then
    ``scipy.ndimage.binary_fill_holes`` (default 6-connected structure), so dark voxels enclosed by the
    brain (ventricles, necrosis) count as inside.
    """
    channels = _channels(data, "data")
    return ndimage.binary_fill_holes(np.any(channels != 0, axis=0))


def _bbox(mask: NDArray[np.bool_]) -> Bbox:
    """The tight half-open box around ``mask``; an axis with nothing in it keeps its full extent."""
    box = []
    for axis in range(3):
        hits = np.flatnonzero(mask.any(axis=tuple(a for a in range(3) if a != axis)))
        box.append(slice(int(hits[0]), int(hits[-1]) + 1) if hits.size else slice(0, mask.shape[axis]))
    return box[0], box[1], box[2]


def nonzero_bbox(data: ArrayLike) -> Bbox:
    """Return the ``(z, y, x)`` slices of the smallest box holding the nonzero mask of ``data`` (chapter 3).

    Equal to nnU-Net's ``get_bbox_from_mask(create_nonzero_mask(data))`` turned into slices: half-open
    (``stop`` is one past the last nonzero voxel). An all-zero volume gives the full extent, as in nnU-Net.
    """
    return _bbox(nonzero_mask(data))


def crop_to_nonzero(
    data: ArrayLike, seg: ArrayLike | None = None, outside_label: int = -1
) -> tuple[NDArray, NDArray, Bbox]:
    """Return ``(data, seg, bbox)`` cropped to the nonzero box, ``seg`` marked ``outside_label`` outside (chapter 3).

    Equal to nnU-Net's ``crop_to_nonzero``. ``data`` is ``[z, y, x]`` or ``[C, z, y, x]``; the outputs keep
    its rank. Inside the box, voxels outside the (hole-filled) nonzero mask whose label is 0 become
    ``outside_label`` (-1). The -1 drives two things: with ``use_mask_for_norm`` the z-score statistics come only
    from ``seg >= 0`` (and ``MaskImageTransform`` zeroes the image there during training), and the data loader and
    spatial transform pad the label with -1 too. It is *not* excluded from the loss: both of nnU-Net's trainer
    pipelines (training and validation) end with ``RemoveLabelTansform(-1, 0)``, so the cropped background enters
    cross-entropy and Dice as label 0. Without ``seg`` the returned label is int8, 0 inside the mask and -1
    outside, as nnU-Net makes it for test cases.

    Unlike nnU-Net, which returns views and writes -1 into the caller's ``seg``, the inputs are not changed.
    nnU-Net reads labels as float32; an unsigned ``seg`` cannot hold -1 and is refused.
    """
    arr = np.asarray(data)
    channels = _channels(arr, "data")
    mask = nonzero_mask(channels)
    box = _bbox(mask)
    inside = mask[box]
    cropped = channels[(slice(None), *box)].copy()
    if seg is None:
        labels = np.where(inside, np.int8(0), np.int8(outside_label))[None]
    else:
        seg_channels = _channels(seg, "seg")
        if seg_channels.shape[1:] != channels.shape[1:]:
            raise VolumeError(
                f"seg has spatial shape {seg_channels.shape[1:]} but data has {channels.shape[1:]}; "
                "resample the label onto the image grid first."
            )
        if not np.can_cast(np.min_scalar_type(outside_label), seg_channels.dtype):
            raise VolumeError(
                f"seg has dtype {seg_channels.dtype}, which cannot hold outside_label={outside_label}; "
                "pass seg.astype(np.int16) (nnU-Net itself reads labels as float32)."
            )
        labels = seg_channels[(slice(None), *box)].copy()
        labels[(labels == 0) & ~inside[None]] = outside_label
    if arr.ndim == 3:
        return cropped[0], labels[0], box
    return cropped, labels, box


# ---------------------------------------------------------------------------------------- normalisation
def _eps(dtype: np.dtype) -> float:
    """nnU-Net's floor on the standard deviation: 1e-4 in float16, 1e-8 otherwise."""
    return 1e-4 if dtype == np.float16 else 1e-8


def zscore(image: ArrayLike, mask: ArrayLike | None = None, *, dtype: DTypeLike = np.float32) -> NDArray:
    """Return ``image`` minus its mean, over its standard deviation, as ``dtype`` (chapter 3).

    Equal to nnU-Net's ``ZScoreNormalization``: the image is cast to ``dtype`` (float32, nnU-Net's
    ``target_dtype``) first and the statistics are computed in that precision; the standard deviation is
    floored at 1e-8 (1e-4 for float16). With ``mask`` (nnU-Net's ``use_mask_for_norm``, where its mask is
    ``seg >= 0`` after cropping) mean and standard deviation come from the voxels inside the mask and only
    those are changed: voxels outside keep their input value. nnU-Net writes nothing there either; its mask
    is the nonzero mask, so the outside is zero and stays zero.
    """
    target = np.dtype(dtype)
    out = np.array(image, dtype=target, copy=True)
    eps = _eps(target)
    if mask is None:
        mean, std = out.mean(), out.std()
        out -= mean
        out /= max(std, eps)
        return out
    inside = np.asarray(mask, dtype=bool)
    if inside.shape != out.shape:
        raise VolumeError(f"mask has shape {inside.shape} but image has {out.shape}; they must match.")
    if not inside.any():
        raise VolumeError("mask selects no voxels, so there is nothing to compute a mean from; check the mask.")
    values = out[inside]
    mean, std = values.mean(), values.std()
    out[inside] = (values - mean) / max(std, eps)
    return out


def ct_normalize(
    image: ArrayLike, mean: float, std: float, lower: float, upper: float, *, dtype: DTypeLike = np.float32
) -> NDArray:
    """Return ``image`` clipped to ``[lower, upper]``, minus ``mean``, over ``std``, as ``dtype`` (chapter 3).

    Equal to nnU-Net's ``CTNormalization`` with intensity properties ``percentile_00_5`` (``lower``),
    ``percentile_99_5`` (``upper``), ``mean`` and ``std``: statistics of the foreground voxels of the whole
    training set, fixed once in the plans, not of this image. Arithmetic in ``dtype`` (float32), standard
    deviation floored as in ``zscore``. The numbers are taken as Python floats, as nnU-Net reads them from
    its JSON plans.
    """
    target = np.dtype(dtype)
    out = np.array(image, dtype=target, copy=True)
    np.clip(out, float(lower), float(upper), out=out)
    out -= float(mean)
    out /= max(float(std), _eps(target))
    return out


# ------------------------------------------------------------------------------------------- resampling
def is_anisotropic(spacing: Sequence[float], threshold: float = ANISO_THRESHOLD) -> bool:
    """Return whether the largest spacing is more than ``threshold`` times the smallest (chapter 3).

    nnU-Net's ``get_do_separate_z``. Note the comparison is with the *smallest* spacing, although nnU-Net's
    comment on ``ANISO_THRESHOLD`` speaks of "the next largest": (5, 2, 1) mm counts as anisotropic.
    """
    s = np.asarray(spacing, dtype=float)
    return bool(s.max() / s.min() > threshold)


def out_of_plane_axis(
    current_spacing: Sequence[float], new_spacing: Sequence[float], threshold: float = ANISO_THRESHOLD
) -> int | None:
    """Return the axis to resample on its own (nearest neighbour), or None to resample jointly (chapter 3).

    nnU-Net's ``determine_do_sep_z_and_axis`` with the planner's ``force_separate_z=None``: if the current
    spacing is anisotropic its largest axis is the out-of-plane one; otherwise the same test on the target
    spacing. If two axes share the largest spacing (e.g. (0.24, 1.25, 1.25)) there is no single
    out-of-plane axis and everything is resampled jointly.
    """
    for spacing in (current_spacing, new_spacing):
        if is_anisotropic(spacing, threshold):
            s = np.asarray(spacing, dtype=float)
            axes = np.flatnonzero(max(spacing) / s == 1)  # nnU-Net's get_lowres_axis, same arithmetic
            return int(axes[0]) if len(axes) == 1 else None
    return None


def target_shape(
    shape: Sequence[int], current_spacing: Sequence[float], new_spacing: Sequence[float]
) -> tuple[int, ...]:
    """Return the grid size that keeps the field of view at ``new_spacing`` (chapter 3).

    nnU-Net's ``compute_new_shape``: ``round(current / new * size)`` per axis, Python's ``round`` (halves
    to even).
    """
    if not len(shape) == len(current_spacing) == len(new_spacing):
        raise VolumeError(f"shape {tuple(shape)} and spacings {current_spacing}, {new_spacing} differ in length.")
    return tuple(int(round(c / n * s)) for s, c, n in zip(shape, current_spacing, new_spacing))


def _skimage_resize(image: NDArray[np.float64], new_shape: Sequence[int], order: int) -> NDArray[np.float64]:
    """``skimage.transform.resize(image, new_shape, order, mode="edge", anti_aliasing=False)``, in scipy.

    The settings nnU-Net passes, and what skimage (0.26) does with them on a float64 image:
    ``mode="edge"`` becomes ndimage's ``"nearest"`` (the border value repeats); ``anti_aliasing=False``
    means no Gaussian smoothing before downsampling; the zoom factor is ``1 / (old / new)`` with
    ``grid_mode=True`` (voxels are cells, their edges aligned, not their centres); ``clip=True`` (skimage's
    default) clips the result to the input's range, which removes the cubic spline's overshoot.
    """
    factors = np.divide(image.shape, new_shape)
    out = ndimage.zoom(image, [1 / f for f in factors], order=order, mode="nearest", grid_mode=True)
    np.clip(out, np.asarray(image.min()), np.asarray(image.max()), out=out)
    return out


def _resize_labels(seg: NDArray[np.float64], new_shape: Sequence[int], order: int = 1) -> NDArray[np.float64]:
    """A label map resized one label at a time: batchgenerators' ``resize_segmentation`` (0.25.5).

    Each label's indicator is resized with ``order`` and every output voxel takes the label with the
    highest score, so no value that is not in the input can appear. Exact ties (common: with an even zoom
    factor a boundary voxel scores 0.5 for both sides) go to the nearest-neighbour label if it is one of
    the tied labels, otherwise to the smallest tied label.
    """
    labels = np.unique(seg)
    if labels.size == 1:
        return np.full(tuple(new_shape), labels[0])
    nearest = _skimage_resize(seg, new_shape, 0)
    best: NDArray[np.float64] | None = None
    winner = np.zeros(nearest.shape, dtype=np.intp)
    nearest_score = np.zeros(nearest.shape)
    for i, value in enumerate(labels):
        score = _skimage_resize((seg == value).astype(float), new_shape, order)
        is_nearest = nearest == value
        nearest_score[is_nearest] = score[is_nearest]
        if best is None:
            best = score
            continue
        winner[score > best] = i
        np.maximum(best, score, out=best)
    result = labels[winner]
    use_nearest = (nearest_score == best) & (nearest_score > 0)
    result[use_nearest] = nearest[use_nearest]
    return result


def _nearest_source_index(n_in: int, n_out: int) -> NDArray[np.intp]:
    """For each of ``n_out`` output slices, the input slice nnU-Net copies along the out-of-plane axis.

    nnU-Net maps output slice ``k`` to ``n_in / n_out * (k + 0.5) - 0.5`` and samples it with
    ``map_coordinates(order=0, mode="nearest")``; the same call on the slice numbers gives the indices.
    """
    coords = float(n_in) / n_out * (np.arange(n_out) + 0.5) - 0.5
    index = ndimage.map_coordinates(np.arange(n_in, dtype=float), coords[None], order=0, mode="nearest")
    return index.astype(np.intp)


def _resample_volume(
    volume: NDArray[np.float64],
    new_shape: tuple[int, ...],
    axis: int | None,
    resize: Callable[[NDArray[np.float64], Sequence[int]], NDArray[np.float64]],
) -> NDArray[np.float64]:
    """One channel resampled jointly (``axis`` None) or slice by slice, then nearest along ``axis``."""
    if axis is None:
        return resize(volume, new_shape)
    in_plane = tuple(n for a, n in enumerate(new_shape) if a != axis)
    slices = [resize(np.take(volume, i, axis=axis), in_plane) for i in range(volume.shape[axis])]
    stacked = np.stack(slices, axis=axis)
    if volume.shape[axis] == new_shape[axis]:
        return stacked
    return np.take(stacked, _nearest_source_index(volume.shape[axis], new_shape[axis]), axis=axis)


def _resample(
    data: ArrayLike,
    current_spacing: Sequence[float],
    new_spacing: Sequence[float],
    new_shape: Sequence[int] | None,
    threshold: float,
    resize: Callable[[NDArray[np.float64], Sequence[int]], NDArray[np.float64]],
    what: str,
) -> NDArray:
    arr = np.asarray(data)
    channels = _channels(arr, what)
    shape = channels.shape[1:]
    if len(current_spacing) != 3 or len(new_spacing) != 3:
        raise VolumeError(f"spacings must have three entries (z, y, x), got {current_spacing} and {new_spacing}.")
    size = target_shape(shape, current_spacing, new_spacing) if new_shape is None else tuple(int(n) for n in new_shape)
    if len(size) != 3 or min(size) < 1:
        raise VolumeError(f"new_shape must be three positive sizes (z, y, x), got {size}.")
    if size == shape:
        return arr.copy()
    axis = out_of_plane_axis(current_spacing, new_spacing, threshold)
    out = np.zeros((channels.shape[0], *size), dtype=channels.dtype)
    for c in range(channels.shape[0]):
        out[c] = _resample_volume(channels[c].astype(float), size, axis, resize)
    return out[0] if arr.ndim == 3 else out


def resample_image(
    data: ArrayLike,
    current_spacing: Sequence[float],
    new_spacing: Sequence[float],
    new_shape: Sequence[int] | None = None,
    *,
    threshold: float = ANISO_THRESHOLD,
) -> NDArray:
    """Return the image ``[z, y, x]`` or ``[C, z, y, x]`` resampled to ``new_spacing``, same dtype (chapter 3).

    nnU-Net's ``resample_data_or_seg_to_shape`` with the default plans (``order=3, order_z=0,
    force_separate_z=None``): computed in float64, cast back. Isotropic-enough spacings: one cubic spline
    over the volume. Anisotropic (see ``out_of_plane_axis``): a cubic spline in each slice, then nearest
    neighbour across slices, so thick slices are never blended into each other. The grid size is
    ``target_shape`` unless ``new_shape`` is given. An image already at that size is returned unchanged.
    """
    return _resample(
        data, current_spacing, new_spacing, new_shape, threshold, lambda v, s: _skimage_resize(v, s, 3), "data"
    )


def resample_label(
    seg: ArrayLike,
    current_spacing: Sequence[float],
    new_spacing: Sequence[float],
    new_shape: Sequence[int] | None = None,
    *,
    threshold: float = ANISO_THRESHOLD,
) -> NDArray:
    """Return the label map resampled to ``new_spacing``, holding only values present before (chapter 3).

    nnU-Net's ``resample_data_or_seg_to_shape`` with the default plans for labels (``is_seg=True, order=1,
    order_z=0, force_separate_z=None``): each label's indicator is interpolated linearly and each voxel takes
    the best-scoring label (ties: the nearest neighbour's). When anisotropic this is done per slice and the
    out-of-plane axis is nearest neighbour, as for images. Works with -1 (outside) labels from cropping.
    """
    return _resample(seg, current_spacing, new_spacing, new_shape, threshold, _resize_labels, "seg")
