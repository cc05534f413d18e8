"""Chapter 1 exercises (MRI volumes): checkers and their solutions.

Each checker takes the student's function, runs it on volumes with known answers (isotropic and
anisotropic, axis-aligned and rotated) and explains the most common mistakes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ..imaging.io import Geometry, Volume
from . import CORRECT, INCORRECT, Feedback, attempt

__all__ = [
    "physical_extent_mm",
    "check_physical_extent",
    "tumour_volume_ml",
    "check_tumour_volume",
    "voxel_centre_mm",
    "check_voxel_centre",
    "test_volumes",
]


# ---------------------------------------------------------------------------------------------- solutions
def physical_extent_mm(volume: Volume) -> tuple[float, float, float]:
    """Solution to exercise 1.1: the size of the grid along x, y and z in millimetres."""
    nz, ny, nx = volume.array.shape  # SimpleITK arrays are [z, y, x] ...
    sx, sy, sz = volume.geometry.spacing  # ... but spacing is (x, y, z)
    return (nx * sx, ny * sy, nz * sz)


def tumour_volume_ml(label: Volume) -> float:
    """Solution to exercise 1.2: the whole-tumour volume (every label > 0) in millilitres."""
    voxels = int(np.count_nonzero(label.array > 0))
    voxel_mm3 = float(np.prod(label.geometry.spacing))
    return voxels * voxel_mm3 / 1000.0  # 1 ml = 1 cm^3 = 1000 mm^3


def voxel_centre_mm(volume: Volume, index_zyx: Sequence[int]) -> np.ndarray:
    """Solution to exercise 1.3: world position (x, y, z) in mm of the voxel at array index [z, y, x]."""
    ijk = np.asarray(index_zyx, dtype=float)[::-1]  # array order -> (x, y, z) order
    direction = np.asarray(volume.geometry.direction).reshape(3, 3)
    return np.asarray(volume.geometry.origin) + direction @ (np.asarray(volume.geometry.spacing) * ijk)


# ---------------------------------------------------------------------------------------------- test data
def test_volumes() -> list[Volume]:
    """Return small volumes with known geometry used by the checkers (anisotropic, shifted, rotated)."""
    rng = np.random.default_rng(0)
    c, s = np.cos(np.deg2rad(30)), np.sin(np.deg2rad(30))
    geometries = [  # the isotropic 1 mm grid comes last: on it several mistakes give the right number
        Geometry((0.9, 0.8, 5.0), origin=(-90.0, 120.0, -60.0)),
        Geometry((1.2, 0.7, 3.0), origin=(10.0, -20.0, 30.0), direction=(c, -s, 0.0, s, c, 0.0, 0.0, 0.0, 1.0)),
        Geometry((2.0, 3.0, 4.0), origin=(98.0, 134.0, -72.0), direction=(-1.0, 0, 0, 0, -1.0, 0, 0, 0, 1.0)),
        Geometry((1.0, 1.0, 1.0)),
    ]
    shapes = [(7, 16, 20), (9, 11, 13), (5, 6, 7), (12, 10, 8)]
    volumes = []
    for i, (geometry, shape) in enumerate(zip(geometries, shapes)):
        array = (rng.random(shape) > 0.7).astype(np.uint8) * rng.integers(1, 4, shape).astype(np.uint8)
        volumes.append(Volume(array, geometry, f"test volume {i}"))
    return volumes


# ---------------------------------------------------------------------------------------------- checkers
def check_physical_extent(fn: Callable[[Volume], Any]) -> Feedback:
    """Check exercise 1.1 (``fn(volume) -> (x_mm, y_mm, z_mm)``) on volumes with known extent."""
    name = "Exercise 1.1, physical extent"
    for volume in test_volumes():
        answer, stop = attempt(name, fn, volume)
        if stop:
            return stop
        expected = np.asarray(physical_extent_mm(volume))
        got = np.asarray(answer, dtype=float).ravel()
        if got.shape != (3,):
            return Feedback(name, INCORRECT, f"Return three numbers (x, y, z); got {answer!r}.")
        if np.allclose(got, expected, rtol=1e-6):
            continue
        nz, ny, nx = volume.array.shape
        sx, sy, sz = volume.geometry.spacing
        if np.allclose(got, [nz * sx, ny * sy, nx * sz]) or np.allclose(got, expected[::-1]):
            hint = ("The axes are mixed up: the array shape is (z, y, x) while the spacing is (x, y, z). "
                    "Pair the number of columns (x) with spacing[0].")
        elif np.allclose(got, [nx, ny, nz]) or np.allclose(got, [nz, ny, nx]):
            hint = "That is the number of voxels; multiply each by the voxel size along the same axis."
        else:
            hint = f"For {volume.name} (shape z,y,x {volume.array.shape}, spacing x,y,z {volume.geometry.spacing}) expected {tuple(expected.round(3))}, got {tuple(got.round(3))}."
        return Feedback(name, INCORRECT, hint)
    return Feedback(name, CORRECT, "Right on every test volume, anisotropic ones included.")


def check_tumour_volume(fn: Callable[[Volume], Any]) -> Feedback:
    """Check exercise 1.2 (``fn(label) -> millilitres``) on labels with known volume."""
    name = "Exercise 1.2, tumour volume"
    for volume in test_volumes():
        answer, stop = attempt(name, fn, volume)
        if stop:
            return stop
        try:
            got = float(answer)
        except (TypeError, ValueError):
            return Feedback(name, INCORRECT, f"Return one number (millilitres); got {answer!r}.")
        expected = tumour_volume_ml(volume)
        if np.isclose(got, expected, rtol=1e-6):
            continue
        count = np.count_nonzero(volume.array)
        if np.isclose(got, count):
            hint = "That is a number of voxels; multiply by the volume of one voxel (product of the spacing)."
        elif np.isclose(got, expected * 1000):
            hint = "That is in cubic millimetres; one millilitre is 1000 mm^3."
        elif np.isclose(got, np.count_nonzero(volume.array == 1) * np.prod(volume.geometry.spacing) / 1000):
            hint = "Whole tumour is every label above 0 (oedema, non-enhancing and enhancing), not label 1 only."
        else:
            hint = f"For {volume.name} expected {expected:.4f} ml, got {got:.4f}."
        return Feedback(name, INCORRECT, hint)
    return Feedback(name, CORRECT, "Right on every test label.")


def check_voxel_centre(fn: Callable[[Volume, Sequence[int]], Any]) -> Feedback:
    """Check exercise 1.3 (``fn(volume, index_zyx) -> (x, y, z) mm``) on shifted and rotated grids."""
    name = "Exercise 1.3, voxel to world"
    for volume in test_volumes():
        index = tuple(int(n) // 3 for n in volume.array.shape)
        answer, stop = attempt(name, fn, volume, index)
        if stop:
            return stop
        got = np.asarray(answer, dtype=float).ravel()
        expected = voxel_centre_mm(volume, index)
        if got.shape == (3,) and np.allclose(got, expected, atol=1e-6):
            continue
        g = volume.geometry
        ijk_wrong = np.asarray(index, dtype=float)
        no_direction = np.asarray(g.origin) + np.asarray(g.spacing) * np.asarray(index, dtype=float)[::-1]
        if got.shape == (3,) and np.allclose(got, np.asarray(g.origin) + np.asarray(g.direction).reshape(3, 3) @ (np.asarray(g.spacing) * ijk_wrong)):
            hint = "The index is [z, y, x]; reverse it to (x, y, z) before scaling by the spacing."
        elif got.shape == (3,) and np.allclose(got, no_direction):
            hint = f"Right for axis-aligned grids, but {volume.name} is rotated: multiply by the direction matrix."
        else:
            hint = f"For {volume.name} at index {index} expected {tuple(expected.round(3))}, got {answer!r}."
        return Feedback(name, INCORRECT, hint)
    return Feedback(name, CORRECT, "Right on every grid, rotated ones included.")
