"""Conversions between the course's MRI layouts (chapter 1; the data layer's derived datasets).

The student project's FLAIR layout has no public source, so the course derives it from MSD Task01:
channel 0 (FLAIR) of each 4-D image, and the label reduced to whole tumour (every label above 0).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import nibabel as nib
import numpy as np

from ..paths import staged_directory
from ..progress import progress
from .layouts import open_mri_folder

__all__ = ["msd_to_seed_layout", "write_flair_whole_tumour"]


def msd_to_seed_layout(msd_root: str | os.PathLike[str], out_root: str | os.PathLike[str],
                       case_ids: Sequence[str] | None = None) -> Path:
    """Write the FLAIR layout (``CASE/CASE_fld.nii.gz``, ``CASE/CASE_seg.nii.gz``) of an MSD Task01 folder.

    Voxels and affines are copied unchanged (FLAIR is channel 0; the label becomes ``label > 0``). The
    output appears whole or not at all: it is written to a temporary sibling and renamed.
    """
    source = open_mri_folder(msd_root)
    if source.layout != "msd":
        raise ValueError(f"{msd_root} is in the {source.layout} layout; an MSD Task01 folder is needed.")
    target = Path(out_root)
    wanted = set(case_ids) if case_ids is not None else None
    with staged_directory(target) as tmp:
        for files in progress([c for c in source.cases if wanted is None or c.case_id in wanted], desc="FLAIR layout"):
            if files.label is None:
                continue
            case_dir = tmp / files.case_id
            case_dir.mkdir()
            write_flair_whole_tumour(files.image, files.label, case_dir / f"{files.case_id}_fld.nii.gz",
                                     case_dir / f"{files.case_id}_seg.nii.gz")
    return target


def write_flair_whole_tumour(image_4d: Path, label: Path, out_image: Path, out_label: Path) -> None:
    """Write FLAIR (channel 0 of an MSD 4-D image) and the whole-tumour mask (label > 0), affines unchanged."""
    image = nib.load(image_4d)
    flair = np.asanyarray(image.dataobj)[..., 0]
    nib.save(nib.Nifti1Image(flair, image.affine), out_image)
    reference = nib.load(label)
    whole = (np.asanyarray(reference.dataobj) > 0).astype(np.uint8)
    nib.save(nib.Nifti1Image(whole, reference.affine), out_label)
