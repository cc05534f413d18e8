"""Part I, imaging: MRI volumes, their geometry, synthetic brain-tumour cases and figures (chapters 1-6)."""

from __future__ import annotations

from .checks import check_label_values, check_pair, region_volumes_ml
from .io import Geometry, Volume, read_volume, volume_from_nibabel, voxel_to_world, world_to_voxel, write_volume
from .layouts import MSD_LABELS, SEED_LABELS, Case, MriFolder, open_mri_folder

__all__ = [
    "Geometry", "Volume", "read_volume", "write_volume", "volume_from_nibabel", "voxel_to_world",
    "world_to_voxel", "check_pair", "check_label_values", "region_volumes_ml", "Case", "MriFolder",
    "open_mri_folder", "MSD_LABELS", "SEED_LABELS",
]
