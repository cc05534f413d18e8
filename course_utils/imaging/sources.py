"""Where a chapter's MRI cases come from, per profile (chapter 1; Part I)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ..data import require_dataset
from .synthetic import synthetic_dataset

__all__ = ["mri_folder_for"]

#: Folder inside the fetched MSD archive that holds dataset.json, imagesTr/, labelsTr/.
MSD_TASK01_SUBDIR = "Task01_BrainTumour"


def mri_folder_for(settings: Any, *, layout: str = "msd") -> Path:
    """Return the folder of MRI cases a chapter should read.

    ``$COURSE_MRI_DIR`` wins in every profile (any folder in the seed or MSD layout). Otherwise smoke
    generates synthetic cases (cached in the work folder) and lab/full use the fetched MSD Task01.
    """
    override = os.environ.get("COURSE_MRI_DIR", "").strip()
    if override:
        return Path(override).expanduser()
    if settings.source == "synthetic":
        return synthetic_dataset(layout, settings.n_cases, seed=settings.seed, spacing_mm=settings.spacing_mm)
    return require_dataset(settings.dataset) / MSD_TASK01_SUBDIR
