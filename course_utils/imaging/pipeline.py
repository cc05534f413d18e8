"""One idempotent step that gets Part I's nnU-Net dataset ready for any chapter (chapters 2-6).

Each Part I chapter runs on its own: :func:`prepare_nnunet` converts, plans and preprocesses the dataset
of the active profile (synthetic cases in smoke, MSD Task01 by manifest in lab and full), reusing whatever an
earlier chapter or test already made, so a student can open chapter 5 first.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..data import require_dataset
from ..errors import DatasetLayoutError
from ..paths import work_dir
from .holdout import heldout_ids  # re-exported: chapter 2 and the tests import it from here
from .layouts import open_mri_folder
from .nnunet_data import (
    DATASET_IDS,
    NnunetFolders,
    convert_msd_to_nnunet,
    convert_seed_to_nnunet,
    nnunet_folders,
    plan_and_preprocess,
)
from .sources import MSD_TASK01_SUBDIR, mri_folder_for
from .synthetic import synthetic_dataset

__all__ = ["PreparedDataset", "part1_source", "heldout_ids", "nnunet_folders_for", "results_key", "prepare_nnunet"]


@dataclass(frozen=True)
class PreparedDataset:
    """A converted, planned and preprocessed nnU-Net dataset: its id, folders, raw folder and plans."""

    dataset_id: int
    folders: NnunetFolders
    raw: Path
    plans: dict[str, Any]


def part1_source(settings: Any, *, regions: bool = False) -> Path:
    """Return the folder of MRI cases Part I trains on in the active profile.

    ``$COURSE_MRI_DIR`` wins (either layout) for the whole-tumour task, and for the regions task when it is in
    the MSD layout (the four sequences and three labels the regions need). Otherwise smoke uses synthetic cases
    (seed layout; MSD layout for the regions task) and lab/full use MSD Task01 fetched by manifest.
    """
    if regions:
        override = os.environ.get("COURSE_MRI_DIR", "").strip()
        if override and open_mri_folder(Path(override).expanduser()).layout == "msd":
            return Path(override).expanduser()
        if settings.source == "synthetic":
            return synthetic_dataset("msd", settings.n_cases, seed=settings.seed, spacing_mm=settings.spacing_mm)
        return require_dataset(settings.dataset) / MSD_TASK01_SUBDIR
    return mri_folder_for(settings, layout="seed")


def results_key(settings: Any) -> str:
    """Return the name of the results folder of a schedule (chapter 6): the profile's name (``smoke``, ``lab``,
    ``full``) when ``settings`` train with that profile's own schedule, else ``schedule-<epochs>x<iterations>
    -val<validation iterations>`` (a rehearsal, a benchmark with another schedule).

    Lab and full read the same data, so they share the raw and preprocessed folders; their trained models differ
    (100 against 1000 epochs), so each schedule has its own ``nnUNet_results``: a lab fold never blocks the full
    profile's training, and never passes for one of its folds.
    """
    from ..profiles import CHAPTERS

    wanted = (settings.num_epochs, settings.iterations_per_epoch, settings.val_iterations_per_epoch)
    for profile, own in CHAPTERS[6].settings.items():
        if (own.num_epochs, own.iterations_per_epoch, own.val_iterations_per_epoch) == wanted:
            return str(profile.value)
    return f"schedule-{wanted[0]}x{wanted[1]}-val{wanted[2]}"


def nnunet_folders_for(source: Path, settings: Any = None) -> NnunetFolders:
    """Return the nnU-Net folders used for a source folder: ``COURSE_WORK_DIR/nnunet/<name>-<hash>``, with the
    results of ``settings``' schedule in ``nnUNet_results/<results_key(settings)>`` (chapters 2 and 6).

    Without ``settings`` the results folder is ``nnUNet_results`` itself (chapter 2 needs no results folder).
    """
    resolved = Path(source).resolve()
    key = hashlib.sha256(str(resolved).encode()).hexdigest()[:10]
    return _keyed(nnunet_folders(work_dir() / "nnunet" / f"{resolved.name[:40]}-{key}"), settings)


def _keyed(folders: NnunetFolders, settings: Any) -> NnunetFolders:
    """Return ``folders`` with the results folder of ``settings``' schedule (created), or unchanged without them."""
    if settings is None:
        return folders
    results = folders.results / results_key(settings)
    results.mkdir(parents=True, exist_ok=True)
    return NnunetFolders(folders.raw, folders.preprocessed, results)


def prepare_nnunet(settings: Any, *, regions: bool = False, root: Path | None = None) -> PreparedDataset:
    """Return the dataset of the active profile, converted, planned and preprocessed (reused when there).

    The nnU-Net folders live in ``COURSE_WORK_DIR/nnunet/<source>`` (one set per source folder), so runs on
    different data never mix; the trained models in ``nnUNet_results/<schedule>`` (:func:`results_key`), so runs
    with different schedules (lab and full) never mix either. The held-out test cases (:func:`heldout_ids`) go to the raw dataset's
    ``imagesTs``/``labelsTs`` and never into training.
    """
    source = part1_source(settings, regions=regions).resolve()
    folders = _keyed(nnunet_folders(root), settings) if root is not None else nnunet_folders_for(source, settings)
    data = open_mri_folder(source)
    test_ids = heldout_ids(source)
    if data.layout == "seed":
        if regions:
            raise DatasetLayoutError(f"{source} is in the seed layout (FLAIR only): the regions task needs MSD Task01.")
        raw = convert_seed_to_nnunet(source, folders, test_ids=test_ids)
        dataset_id = DATASET_IDS["seed_flair"]
    else:
        raw = convert_msd_to_nnunet(source, folders, regions=regions, test_ids=test_ids)
        dataset_id = DATASET_IDS["msd_regions" if regions else "msd_flair"]
    plans = plan_and_preprocess(dataset_id, folders, (settings.configuration,))
    return PreparedDataset(dataset_id, folders, raw, plans)
