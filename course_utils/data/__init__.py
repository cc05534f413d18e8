"""Datasets and pretrained models by manifest (data layer; every lab/full chapter).

A dataset named ``NAME`` lives in ``$COURSE_DATA_DIR/NAME/``; it is complete when the marker file
``$COURSE_DATA_DIR/NAME/.course-complete`` exists (written last, after verification).
"""

from __future__ import annotations

from pathlib import Path

from ..errors import DataMissingError
from ..paths import data_dir

__all__ = ["dataset_path", "dataset_present", "require_dataset", "COMPLETE_MARKER"]

COMPLETE_MARKER = ".course-complete"


def dataset_path(name: str) -> Path:
    """Return the folder where dataset ``name`` lives (it may not exist yet)."""
    return data_dir() / name


def dataset_present(name: str) -> bool:
    """Return True when dataset ``name`` has been fetched and verified completely."""
    return (dataset_path(name) / COMPLETE_MARKER).is_file()


def require_dataset(name: str) -> Path:
    """Return the folder of dataset ``name``, or raise :class:`DataMissingError` naming the command."""
    if not dataset_present(name):
        raise DataMissingError(
            f"The dataset {name!r} is not in {dataset_path(name)}. Fetch it with "
            f"`python -m course_utils.data fetch {name}` (or set COURSE_DATA_DIR to a folder where a lab "
            f"administrator staged it), or run in the smoke profile: `export COURSE_PROFILE=smoke`."
        )
    return dataset_path(name)
