"""Moving volumes between voxel grids in physical space, with SimpleITK (chapter 1; chapter 3 compares
these with nnU-Net's own resampling)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import SimpleITK as sitk

from .io import Geometry, Volume

__all__ = ["resample_to_spacing", "resample_like", "crop_to_foreground"]


def resample_to_spacing(volume: Volume, spacing: Sequence[float], *, is_label: bool = False) -> Volume:
    """Return ``volume`` resampled to ``spacing`` (x, y, z mm) over the same physical extent.

    B-spline interpolation for images, nearest neighbour for labels (so no new label values appear).
    """
    image = volume.to_sitk()
    new_spacing = [float(s) for s in spacing]
    size = [max(1, int(round(n * s / t))) for n, s, t in zip(image.GetSize(), image.GetSpacing(), new_spacing)]
    out = sitk.Resample(
        image, size, sitk.Transform(), sitk.sitkNearestNeighbor if is_label else sitk.sitkBSpline,
        image.GetOrigin(), new_spacing, image.GetDirection(), 0, image.GetPixelID(),
    )
    return Volume(sitk.GetArrayFromImage(out), Geometry.from_sitk(out), volume.name)


def resample_like(volume: Volume, reference: Volume, *, is_label: bool = True) -> Volume:
    """Return ``volume`` resampled onto the grid of ``reference``, matching positions in millimetres."""
    out = sitk.Resample(
        volume.to_sitk(), reference.to_sitk(), sitk.Transform(),
        sitk.sitkNearestNeighbor if is_label else sitk.sitkLinear, 0.0,
    )
    return Volume(sitk.GetArrayFromImage(out), reference.geometry, volume.name)


def crop_to_foreground(volume: Volume, margin: int = 2) -> Volume:
    """Return the bounding box of the non-zero voxels plus ``margin``, with the origin moved to match.

    The cropped array starts at a different voxel, so its origin (world position of voxel 0) changes;
    a tool that keeps the array but drops the origin puts the crop in the wrong place.
    """
    nonzero = np.argwhere(volume.array != 0)
    if nonzero.size == 0:
        return volume
    lo = np.maximum(nonzero.min(axis=0) - margin, 0)
    hi = np.minimum(nonzero.max(axis=0) + margin + 1, volume.array.shape)
    image = volume.to_sitk()
    lo_xyz = [int(v) for v in lo[::-1]]
    size_xyz = [int(v) for v in (hi - lo)[::-1]]
    cropped = sitk.RegionOfInterest(image, size_xyz, lo_xyz)
    return Volume(sitk.GetArrayFromImage(cropped), Geometry.from_sitk(cropped), volume.name)
