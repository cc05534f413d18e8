"""Datasets and pretrained models by manifest (data layer; every lab/full chapter).

``fetch(name)`` reads ``data_manifests/NAME.yaml``, downloads into ``$COURSE_DATA_DIR/NAME`` with a
progress bar, verifies sizes and checksums, extracts archives safely and writes ``.course-complete`` last.
``stage(name, folder)`` copies a folder a lab administrator already has into place, verified the same way.
``python -m course_utils.data list | fetch NAME | stage NAME FOLDER | verify NAME`` does the same from a terminal.
"""

from __future__ import annotations

from .manifest import Check, FileSpec, Manifest, hub_file_url, list_manifests, load_manifest, manifest_dir
from .store import (
    COMPLETE_MARKER,
    LOCK_FILE,
    VerifyReport,
    data_dir_writable,
    dataset_available,
    dataset_path,
    dataset_present,
    fetch,
    hf_hub_cache,
    offline_flag,
    recorded_checksums,
    require_dataset,
    stage,
    verify,
)

__all__ = [
    "COMPLETE_MARKER", "LOCK_FILE", "Check", "FileSpec", "Manifest", "VerifyReport", "data_dir_writable",
    "dataset_available", "dataset_path", "dataset_present", "fetch", "hf_hub_cache", "hub_file_url", "list_manifests",
    "load_manifest", "manifest_dir", "offline_flag", "recorded_checksums", "require_dataset", "stage", "verify",
]
