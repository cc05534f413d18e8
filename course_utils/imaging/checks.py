"""Integrity checks of images and labels (chapter 1; used again before nnU-Net conversion in chapter 2)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np

from ..errors import GeometryMismatchError, LabelValueError
from .io import Volume

__all__ = ["check_pair", "check_label_values", "region_volumes_ml"]


def check_pair(image: Volume, label: Volume, case_id: str = "", *, atol: float = 1e-3) -> None:
    """Raise :class:`GeometryMismatchError` unless image and label share shape, spacing, origin, direction.

    The message lists every property that differs with both values, so the file at fault can be found.
    """
    where = f"case {case_id!r}: " if case_id else ""
    problems: list[str] = []
    if image.array.shape != label.array.shape:
        problems.append(f"shape (z,y,x) image {image.shape_zyx} vs label {label.shape_zyx}")
    gi, gl = image.geometry, label.geometry
    if not np.allclose(gi.spacing, gl.spacing, atol=atol):
        problems.append(f"spacing (x,y,z mm) image {_fmt(gi.spacing)} vs label {_fmt(gl.spacing)}")
    if not np.allclose(gi.origin, gl.origin, atol=atol):
        problems.append(f"origin (mm) image {_fmt(gi.origin)} vs label {_fmt(gl.origin)}")
    if not np.allclose(gi.direction, gl.direction, atol=atol):
        problems.append(f"orientation image {gi.orientation} vs label {gl.orientation}")
    if problems:
        raise GeometryMismatchError(
            f"{where}image {image.name!r} and label {label.name!r} do not lie on the same voxel grid: "
            + "; ".join(problems)
            + ". Re-export the label on the image's grid (or resample it with nearest-neighbour "
            "interpolation onto the image) before using the pair."
        )


def check_label_values(label: Volume, allowed: Iterable[int], case_id: str = "") -> None:
    """Raise :class:`LabelValueError` if ``label`` holds a value outside ``allowed`` (with voxel counts)."""
    allowed_set = {int(v) for v in allowed}
    values, counts = np.unique(label.array, return_counts=True)
    bad = [(v, c) for v, c in zip(values.tolist(), counts.tolist()) if v not in allowed_set or v != int(v)]
    if bad:
        where = f"case {case_id!r}, " if case_id else ""
        listed = ", ".join(f"{v:g} ({c} voxels)" for v, c in bad)
        raise LabelValueError(
            f"{where}label {label.name!r} holds values outside the declared labels {sorted(allowed_set)}: "
            f"{listed}. Check the labels in dataset.json, or whether an image was saved as the label."
        )


def region_volumes_ml(label: Volume, names: Mapping[int, str]) -> dict[str, float]:
    """Return the volume in millilitres of every non-zero label in ``names`` (chapter 1)."""
    voxel_ml = label.geometry.voxel_volume_mm3 / 1000.0
    return {name: float((label.array == value).sum() * voxel_ml) for value, name in names.items() if value != 0}


def _fmt(values: Iterable[float]) -> str:
    return "(" + ", ".join(f"{v:.4g}" for v in values) + ")"
