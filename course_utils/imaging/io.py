"""Reading and writing NIfTI volumes with SimpleITK and nibabel (chapter 1).

The two libraries read the same voxels but present them differently:

* SimpleITK: ``GetArrayFromImage`` gives an array indexed ``[z, y, x]``; spacing, origin and direction
  are given in ``(x, y, z)`` order, in the LPS world frame (x grows to the patient's Left, y to Posterior).
* nibabel: ``get_fdata`` gives ``[x, y, z]``; the 4x4 ``affine`` maps voxel indices to the RAS world frame
  (x grows to the Right, y to Anterior).

:class:`Volume` keeps a SimpleITK-ordered array with its :class:`Geometry`, so every figure and every
measurement in millimetres can use the right spacing for the right axis.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import nibabel as nib
import numpy as np
import SimpleITK as sitk

from ..errors import NotThreeDimensionalError, VolumeError
from ..paths import ensure_writable_dir

__all__ = [
    "Geometry",
    "Volume",
    "read_volume",
    "write_volume",
    "volume_from_nibabel",
    "geometry_from_affine",
    "voxel_to_world",
    "world_to_voxel",
    "LPS_TO_RAS",
]

#: Flips x and y: converts between ITK's LPS and nibabel's RAS world coordinates (its own inverse).
LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0])


@dataclass(frozen=True)
class Geometry:
    """Where a 3-D voxel grid sits in the world (chapter 1). All tuples are in (x, y, z) order, LPS frame."""

    spacing: tuple[float, float, float]
    origin: tuple[float, float, float] = (0.0, 0.0, 0.0)
    direction: tuple[float, ...] = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0)

    @property
    def spacing_zyx(self) -> tuple[float, float, float]:
        """Return the spacing in array order ``(z, y, x)``, to go with a SimpleITK array."""
        return (self.spacing[2], self.spacing[1], self.spacing[0])

    @property
    def direction_matrix(self) -> np.ndarray:
        """Return the 3x3 direction cosines (columns: world direction of the x, y, z voxel axes)."""
        return np.asarray(self.direction, dtype=float).reshape(3, 3)

    @property
    def voxel_volume_mm3(self) -> float:
        """Return the volume of one voxel in cubic millimetres."""
        return float(np.prod(self.spacing))

    def affine_ras(self) -> np.ndarray:
        """Return the 4x4 nibabel-style affine (voxel ``(i, j, k)`` = ``(x, y, z)`` index to RAS mm)."""
        affine = np.eye(4)
        affine[:3, :3] = LPS_TO_RAS @ self.direction_matrix @ np.diag(self.spacing)
        affine[:3, 3] = LPS_TO_RAS @ np.asarray(self.origin)
        return affine

    @property
    def orientation(self) -> str:
        """Return the three-letter orientation code (nibabel convention: where each voxel axis points)."""
        return "".join(nib.orientations.aff2axcodes(self.affine_ras()))

    def is_close(self, other: "Geometry", *, atol: float = 1e-3) -> bool:
        """Return True when spacing, origin and direction agree within ``atol``."""
        return bool(
            np.allclose(self.spacing, other.spacing, atol=atol)
            and np.allclose(self.origin, other.origin, atol=atol)
            and np.allclose(self.direction, other.direction, atol=atol)
        )

    def apply_to(self, image: sitk.Image) -> sitk.Image:
        """Return ``image`` after setting this geometry on it (in place, for chaining)."""
        image.SetSpacing(tuple(float(s) for s in self.spacing))
        image.SetOrigin(tuple(float(o) for o in self.origin))
        image.SetDirection(tuple(float(d) for d in self.direction))
        return image

    @classmethod
    def from_sitk(cls, image: sitk.Image) -> "Geometry":
        """Return the geometry of a 3-D SimpleITK image."""
        return cls(
            spacing=tuple(float(s) for s in image.GetSpacing()),  # type: ignore[arg-type]
            origin=tuple(float(o) for o in image.GetOrigin()),  # type: ignore[arg-type]
            direction=tuple(float(d) for d in image.GetDirection()),
        )


@dataclass(frozen=True, eq=False)
class Volume:
    """A 3-D image as a ``[z, y, x]`` array with its geometry (chapter 1)."""

    array: np.ndarray
    geometry: Geometry
    name: str = field(default="")

    def __post_init__(self) -> None:
        if self.array.ndim != 3:
            raise NotThreeDimensionalError(
                f"{self.name or 'Volume'}: expected a 3-D array [z, y, x], got shape {self.array.shape}."
            )

    @property
    def shape_zyx(self) -> tuple[int, int, int]:
        """Return the array shape, ``(z, y, x)``."""
        return tuple(int(n) for n in self.array.shape)  # type: ignore[return-value]

    @property
    def shape_xyz(self) -> tuple[int, int, int]:
        """Return the grid size in ITK / nibabel order, ``(x, y, z)``."""
        z, y, x = self.shape_zyx
        return (x, y, z)

    @property
    def extent_mm(self) -> tuple[float, float, float]:
        """Return the physical size of the grid along x, y and z in millimetres."""
        return tuple(float(n * s) for n, s in zip(self.shape_xyz, self.geometry.spacing))  # type: ignore[return-value]

    def like(self, array: np.ndarray, name: str = "") -> "Volume":
        """Return a new volume with ``array`` on this volume's grid (e.g. a mask computed from it)."""
        if array.shape != self.array.shape:
            raise VolumeError(f"Cannot place an array of shape {array.shape} on a grid of shape {self.array.shape}.")
        return Volume(array, self.geometry, name or self.name)

    def to_sitk(self) -> sitk.Image:
        """Return the volume as a SimpleITK image with its geometry."""
        return self.geometry.apply_to(sitk.GetImageFromArray(np.ascontiguousarray(self.array)))


def _describe(path: Path) -> str:
    return f"{path}"


def read_volume(path: str | os.PathLike[str], channel: int | None = None, *, name: str = "") -> Volume:
    """Return the 3-D volume stored in a NIfTI (or any ITK-readable) file, read with SimpleITK.

    A 4-D file (e.g. MSD Task01, four MRI sequences) needs ``channel``; a 3-D file must not get one.
    Raises :class:`VolumeError` for a missing or unreadable file and :class:`NotThreeDimensionalError`
    when the file is not 3-D where 3-D is expected.
    """
    file = Path(path)
    if not file.is_file():
        raise VolumeError(f"No image file at {file}. Check the path (and the folder's layout).")
    try:
        image = sitk.ReadImage(str(file))
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()[-1] if str(exc).strip() else "unknown reason"
        raise VolumeError(f"SimpleITK cannot read {file}: {first}. Is it a complete NIfTI file?") from exc
    dim = image.GetDimension()
    if image.GetNumberOfComponentsPerPixel() != 1:
        raise NotThreeDimensionalError(
            f"{file} holds {image.GetNumberOfComponentsPerPixel()} values per voxel (a vector image); "
            "the course expects one scalar per voxel."
        )
    if dim == 4:
        n_channels = image.GetSize()[3]
        if channel is None:
            raise NotThreeDimensionalError(
                f"{file} is 4-D with {n_channels} channels (shape x,y,z,c = {image.GetSize()}); "
                f"pass channel=0..{n_channels - 1} to read one of them as a 3-D volume."
            )
        if not 0 <= channel < n_channels:
            raise VolumeError(f"{file} has channels 0..{n_channels - 1}; channel {channel} does not exist.")
        image = image[:, :, :, channel]
    elif dim == 3:
        if channel not in (None, 0):
            raise VolumeError(f"{file} is 3-D (one channel); channel {channel} does not exist.")
    else:
        raise NotThreeDimensionalError(
            f"{file} is {dim}-D (size {image.GetSize()}); a 3-D volume (x, y, z) is expected here."
        )
    array = sitk.GetArrayFromImage(image)
    return Volume(array, Geometry.from_sitk(image), name or file.name.split(".nii")[0])


def write_volume(volume: Volume, path: str | os.PathLike[str]) -> Path:
    """Write ``volume`` to ``path`` (format from the suffix, e.g. ``.nii.gz``) and return the path.

    The file appears whole or not at all: it is written under a temporary name in the same folder and
    renamed. An unwritable folder raises :class:`~course_utils.errors.OutputNotWritableError`.
    """
    target = Path(path)
    folder = ensure_writable_dir(target.parent, "image files")
    suffix = "".join(target.suffixes) or ".nii.gz"
    fd, tmp_name = tempfile.mkstemp(dir=folder, prefix=f".{target.name}.", suffix=suffix)
    os.close(fd)
    try:
        sitk.WriteImage(volume.to_sitk(), tmp_name, useCompression=suffix.endswith(".gz"))
        os.replace(tmp_name, target)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    return target


def geometry_from_affine(affine: np.ndarray) -> Geometry:
    """Return the ITK-style (LPS) geometry of a nibabel RAS ``affine`` (chapter 1)."""
    lin = np.asarray(affine, dtype=float)[:3, :3]
    spacing = np.linalg.norm(lin, axis=0)
    direction = LPS_TO_RAS @ lin / spacing
    origin = LPS_TO_RAS @ np.asarray(affine, dtype=float)[:3, 3]
    return Geometry(
        spacing=tuple(float(s) for s in spacing),  # type: ignore[arg-type]
        origin=tuple(float(o) for o in origin),  # type: ignore[arg-type]
        direction=tuple(float(d) for d in direction.ravel()),
    )


def volume_from_nibabel(image: nib.spatialimages.SpatialImage, channel: int | None = None, name: str = "") -> Volume:
    """Return a :class:`Volume` from a nibabel image: transpose ``[x, y, z]`` to ``[z, y, x]``, RAS to LPS."""
    data = np.asanyarray(image.dataobj)
    if data.ndim == 4:
        if channel is None:
            raise NotThreeDimensionalError(f"{name or 'image'} is 4-D {data.shape}; pass channel=...")
        data = data[..., channel]
    elif data.ndim != 3:
        raise NotThreeDimensionalError(f"{name or 'image'} has shape {data.shape}; a 3-D volume is expected.")
    return Volume(np.ascontiguousarray(data.transpose(2, 1, 0)), geometry_from_affine(image.affine), name)


def voxel_to_world(geometry: Geometry, index_zyx: Sequence[float]) -> np.ndarray:
    """Return the LPS world position (x, y, z) in mm of the voxel at array index ``[z, y, x]``."""
    ijk = np.asarray(index_zyx, dtype=float)[::-1]
    return np.asarray(geometry.origin) + geometry.direction_matrix @ (np.asarray(geometry.spacing) * ijk)


def world_to_voxel(geometry: Geometry, point_xyz: Sequence[float]) -> np.ndarray:
    """Return the (fractional) array index ``[z, y, x]`` of an LPS world point in mm."""
    offset = np.asarray(point_xyz, dtype=float) - np.asarray(geometry.origin)
    ijk = np.linalg.solve(geometry.direction_matrix, offset) / np.asarray(geometry.spacing)
    return ijk[::-1]
