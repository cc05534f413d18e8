"""nnU-Net's raw dataset format, conversion into it, and its experiment planning (chapter 2).

nnU-Net reads ``nnUNet_raw/DatasetXXX_Name/`` with ``imagesTr/CASE_0000.nii.gz`` (one file per channel),
``labelsTr/CASE.nii.gz`` and a ``dataset.json``. The course converts its two layouts into it:

* the seed's FLAIR layout -> FLAIR only, binary whole tumour (as the student project trained);
* MSD Task01 -> the same FLAIR / whole-tumour task, or, as the advanced path, all four sequences with the
  BraTS regions (whole tumour, tumour core, enhancing tumour) for region-based training, through nnU-Net's
  own MSD converter.

Every conversion checks its input first (clear errors before anything is written), writes into a
temporary folder and renames it into place, so an interrupted conversion leaves nothing half-written.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import multiprocessing
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nibabel as nib

from ..errors import DatasetLayoutError, NotThreeDimensionalError, VolumeError
from ..paths import ensure_writable_dir, staged_directory, work_dir
from ..progress import progress
from .checks import check_label_values, check_pair
from .convert import write_flair_whole_tumour
from .holdout import heldout_ids
from .io import read_volume
from .layouts import brats_regions, open_mri_folder

__all__ = [
    "DATASET_IDS", "NnunetFolders", "nnunet_folders", "nnunet_environment", "forked_worker_pools", "dataset_name",
    "check_training_cases", "copy_nifti", "convert_seed_to_nnunet", "convert_msd_to_nnunet", "plan_and_preprocess",
    "load_plans",
]

#: Dataset ids the course uses (above 500, clear of the ids nnU-Net's own converters use).
DATASET_IDS = {"seed_flair": 501, "msd_flair": 502, "msd_regions": 503}
_NAMES = {501: "BraTSFlairSeed", 502: "BraTSFlairMSD", 503: "BraTSRegionsMSD"}
_MARKER = ".course-complete"


@dataclass(frozen=True)
class NnunetFolders:
    """nnU-Net's three folders (``nnUNet_raw``, ``nnUNet_preprocessed``, ``nnUNet_results``)."""

    raw: Path
    preprocessed: Path
    results: Path


def nnunet_folders(root: str | os.PathLike[str] | None = None) -> NnunetFolders:
    """Return (and create) nnU-Net's folders under ``root`` (default ``COURSE_WORK_DIR/nnunet``)."""
    base = ensure_writable_dir(Path(root) if root is not None else work_dir() / "nnunet", "nnU-Net folders")
    folders = NnunetFolders(base / "nnUNet_raw", base / "nnUNet_preprocessed", base / "nnUNet_results")
    for path in (folders.raw, folders.preprocessed, folders.results):
        path.mkdir(exist_ok=True)
    return folders


@contextlib.contextmanager
def nnunet_environment(folders: NnunetFolders, n_proc: int | None = None) -> Iterator[NnunetFolders]:
    """Context manager: point nnU-Net at ``folders`` (its environment variables), restored afterwards.

    Also sets nnU-Net's worker counts (``nnUNet_def_n_proc``, ``nnUNet_n_proc_DA``) to the cores available, and
    while no CUDA device is in use lets nnU-Net's worker pools fork instead of spawn (:func:`forked_worker_pools`).
    """
    cores = n_proc or max(1, min(os.cpu_count() or 1, 8))
    values = {"nnUNet_raw": str(folders.raw), "nnUNet_preprocessed": str(folders.preprocessed),
              "nnUNet_results": str(folders.results), "nnUNet_def_n_proc": str(cores),
              "nnUNet_n_proc_DA": str(cores)}
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        with forked_worker_pools():
            yield folders
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _fork_is_safe() -> bool:
    """Fork is safe for nnU-Net's workers on Linux while CUDA is not initialised in this process."""
    if not sys.platform.startswith("linux") or "fork" not in multiprocessing.get_all_start_methods():
        return False
    torch = sys.modules.get("torch")
    return torch is None or not torch.cuda.is_initialized()


def _one_thread_fork_context() -> Any:
    """Return a fork context whose workers run torch on one thread (Linux; fork exists only off Windows).

    A child forked after the parent's OpenMP team of several threads ran waits forever on that team in its first
    parallel operation (for example when it copies a tensor into shared memory to send it back: chapter 6's
    prediction did, with torch on two threads). PyTorch's own DataLoader workers set one thread the same way.
    """

    class OneThreadForkProcess(multiprocessing.context.ForkProcess):  # type: ignore[name-defined,misc]
        def run(self) -> None:
            torch = sys.modules.get("torch")
            if torch is not None:
                torch.set_num_threads(1)
            super().run()

    class OneThreadForkContext(multiprocessing.context.ForkContext):  # type: ignore[name-defined,misc]
        Process = OneThreadForkProcess

    return OneThreadForkContext()


@contextlib.contextmanager
def forked_worker_pools() -> Iterator[bool]:
    """Context manager: nnU-Net's ``multiprocessing.get_context("spawn")`` pools fork instead, where that is safe.

    nnU-Net starts every worker pool (fingerprint, preprocessing, validation export, metrics, post-processing,
    ensembling, prediction) with ``spawn``, so that CUDA survives in the workers; each spawned worker imports torch
    and nnU-Net afresh, about 3 CPU seconds, and chapter 6 in smoke starts dozens of them. On Linux without CUDA
    in use a forked worker inherits those imports and starts in milliseconds (nnU-Net's own data-augmentation
    workers fork already); each forked worker sets torch to one thread first (:func:`_one_thread_fork_context`).
    Yields whether the pools fork; elsewhere (CUDA, macOS, Windows) nothing changes, and each pool checks again
    when it starts (a trainer may initialise CUDA inside the context).
    """
    if not _fork_is_safe():
        yield False
        return
    original, forked = multiprocessing.get_context, _one_thread_fork_context()

    def get_context(method: str | None = None) -> Any:
        return forked if method == "spawn" and _fork_is_safe() else original(method)

    multiprocessing.get_context = get_context
    try:
        yield True
    finally:
        multiprocessing.get_context = original


def dataset_name(dataset_id: int) -> str:
    """Return nnU-Net's folder name for a course dataset id, e.g. ``Dataset501_BraTSFlairSeed``."""
    if dataset_id not in _NAMES:
        raise ValueError(f"{dataset_id} is not one of the course's dataset ids {sorted(_NAMES)}.")
    return f"Dataset{dataset_id:03d}_{_NAMES[dataset_id]}"


def _nifti_ndim(case_id: str, image: str | os.PathLike[str]) -> int:
    """Return the number of dimensions of a NIfTI file, or raise :class:`VolumeError` naming the case and file."""
    try:
        return int(nib.load(image).ndim)
    except (OSError, EOFError, ValueError, nib.filebasedimages.ImageFileError) as exc:
        raise VolumeError(f"Case {case_id!r}: {image} is not a readable NIfTI file ({exc}). Replace it with a complete "
                          "copy, or move the case's folder out of the data folder, then run again.") from None


def check_training_cases(cases: Sequence[tuple[str, Sequence[Path], Path | None]], labels: Sequence[int]) -> None:
    """Raise a clear error unless every case has a unique id, a label, 3-D channels on the label's grid and
    only the declared label values (chapter 2: nnU-Net's integrity check, with messages that name the case)."""
    seen: set[str] = set()
    for case_id, images, label in progress(cases, desc="checking cases", leave=False):
        if case_id in seen:
            raise DatasetLayoutError(f"Case id {case_id!r} appears twice; every case needs its own id.")
        seen.add(case_id)
        if label is None or not Path(label).is_file():
            raise DatasetLayoutError(f"Case {case_id!r} has no label file ({label}); nnU-Net trains on labelled cases only.")
        lab = read_volume(label, name=f"{case_id} label")
        for image in images:
            ndim = _nifti_ndim(case_id, image)
            if ndim != 3:
                raise NotThreeDimensionalError(
                    f"Case {case_id!r}: {image} is {ndim}-D; nnU-Net wants one 3-D file per channel "
                    "(split 4-D files into CASE_0000, CASE_0001, ...).")
            check_pair(read_volume(image, name=Path(image).name), lab, case_id)
        check_label_values(lab, labels, case_id)


def _write_dataset_json(folder: Path, name: str, channels: dict[int, str], labels: dict[str, Any], n_cases: int,
                        description: str, regions_class_order: Sequence[int] | None = None) -> None:
    from nnunetv2.dataset_conversion.generate_dataset_json import generate_dataset_json

    generate_dataset_json(str(folder), channels, labels, n_cases, ".nii.gz",
                          regions_class_order=tuple(regions_class_order) if regions_class_order else None,
                          dataset_name=name, description=description,
                          license="CC-BY-SA 4.0 (MSD Task01, BraTS) or synthetic (MNI152-based, see MNI152_NOTICE)",
                          converted_by="course_utils.imaging.nnunet_data")


def _conversion_key(test_ids: Sequence[str]) -> str:
    return json.dumps({"test_ids": sorted(test_ids)})


def _converted(target: Path, key: str) -> bool:
    """Return True when ``target`` is a finished conversion with the same held-out cases."""
    marker = target / _MARKER
    return marker.is_file() and marker.read_text() == key


def _split_test(cases: Sequence[Any], test_ids: Sequence[str], source: Any) -> tuple[list[Any], list[Any]]:
    """Return (training cases, held-out cases), after checking that every held-out id is a case of ``source``."""
    wanted = set(test_ids)
    unknown = sorted(wanted - {c.case_id for c in cases})
    if unknown:
        raise DatasetLayoutError(f"{source}: held-out test ids not found among its cases: {unknown[:5]}.")
    return [c for c in cases if c.case_id not in wanted], [c for c in cases if c.case_id in wanted]


def _default_test_ids(source: str | os.PathLike[str], test_ids: Sequence[str] | None) -> Sequence[str]:
    """Return ``test_ids``, or the course's held-out ids of ``source`` when it is None (never none by accident)."""
    if test_ids is not None:
        return test_ids
    return heldout_ids(source)


def convert_seed_to_nnunet(source: str | os.PathLike[str], folders: NnunetFolders,
                           dataset_id: int = DATASET_IDS["seed_flair"], *, test_ids: Sequence[str] | None = None) -> Path:
    """Return ``nnUNet_raw/Dataset501_...`` converted from a folder in the seed's FLAIR layout (idempotent).

    Cases named in ``test_ids`` go to ``imagesTs``/``labelsTs`` (the held-out test set, chapter 6), never to
    ``imagesTr``. ``None`` (the default) means the course's held-out cases of ``source``
    (:func:`~course_utils.imaging.holdout.heldout_ids`); pass ``()`` to train on every case.
    """
    data = open_mri_folder(source)
    if data.layout != "seed":
        raise DatasetLayoutError(f"{source} is in the {data.layout} layout; use convert_msd_to_nnunet for MSD.")
    test_ids = _default_test_ids(source, test_ids)
    target = folders.raw / dataset_name(dataset_id)
    key = _conversion_key(test_ids)
    if _converted(target, key):
        return target
    training, held_out = _split_test(data.cases, test_ids, source)
    check_training_cases([(c.case_id, [c.image], c.label) for c in data.cases], [0, 1])
    with staged_directory(target, _MARKER, key) as tmp:
        for images, labels, cases in (("imagesTr", "labelsTr", training), ("imagesTs", "labelsTs", held_out)):
            if not cases:
                continue
            (tmp / images).mkdir()
            (tmp / labels).mkdir()
            for case in progress(cases, desc=f"to nnU-Net {images}", leave=False):
                copy_nifti(case.image, tmp / images / f"{case.case_id}_0000.nii.gz")
                copy_nifti(case.label, tmp / labels / f"{case.case_id}.nii.gz")
        _write_dataset_json(tmp, _NAMES[dataset_id], {0: "FLAIR"}, {"background": 0, "whole tumour": 1}, len(training),
                            "FLAIR only, binary whole tumour (the student project's task), from the seed layout")
    return target


def copy_nifti(source: str | os.PathLike[str], target: str | os.PathLike[str]) -> Path:
    """Return ``target`` after copying the NIfTI ``source`` to it as ``.nii.gz`` (re-encoded when ``source`` is not)."""
    source, target = Path(source), Path(target)
    if "".join(source.suffixes[-2:]) == ".nii.gz":
        shutil.copyfile(source, target)
    else:
        nib.save(nib.load(source), target)
    return target


def convert_msd_to_nnunet(source: str | os.PathLike[str], folders: NnunetFolders, *, regions: bool = False,
                          test_ids: Sequence[str] | None = None) -> Path:
    """Return the nnU-Net dataset converted from an MSD Task01 folder (idempotent).

    ``regions=False``: FLAIR only with binary whole tumour (Dataset502). ``regions=True``: nnU-Net's own MSD
    converter (four channels), with the labels rewritten as BraTS regions for region-based training (Dataset503).
    Cases named in ``test_ids`` go to ``imagesTs``/``labelsTs`` (the held-out test set, chapter 6); MSD's own
    ``imagesTs`` has no labels and is left out. ``None`` (the default) means the course's held-out cases of
    ``source`` (the committed 97 for MSD Task01), so every caller of the same dataset writes the same
    conversion and none re-converts another's; pass ``()`` to train on every case.
    """
    data = open_mri_folder(source)
    if data.layout != "msd":
        raise DatasetLayoutError(f"{source} is in the {data.layout} layout; use convert_seed_to_nnunet for it.")
    test_ids = _default_test_ids(source, test_ids)
    dataset_id = DATASET_IDS["msd_regions" if regions else "msd_flair"]
    target = folders.raw / dataset_name(dataset_id)
    key = _conversion_key(test_ids)
    if _converted(target, key):
        return target
    missing = [c.case_id for c in data.cases if c.label is None]
    if missing:
        raise DatasetLayoutError(f"{source}: training cases without a label file: {missing[:5]}.")
    training, held_out = _split_test(data.cases, test_ids, source)
    with staged_directory(target, _MARKER, key) as tmp:
        if regions:
            _msd_regions(Path(source), tmp, [c.case_id for c in held_out])
        else:
            for images, labels, cases in (("imagesTr", "labelsTr", training), ("imagesTs", "labelsTs", held_out)):
                if not cases:
                    continue
                (tmp / images).mkdir()
                (tmp / labels).mkdir()
                for case in progress(cases, desc=f"to nnU-Net {images}", leave=False):
                    write_flair_whole_tumour(case.image, case.label, tmp / images / f"{case.case_id}_0000.nii.gz",  # type: ignore[arg-type]
                                             tmp / labels / f"{case.case_id}.nii.gz")
            _write_dataset_json(tmp, _NAMES[dataset_id], {0: "FLAIR"}, {"background": 0, "whole tumour": 1}, len(training),
                                "FLAIR only, binary whole tumour, from MSD Task01")
        for images, labels in (("imagesTr", "labelsTr"), ("imagesTs", "labelsTs")):
            if not (tmp / labels).is_dir():
                continue
            cases = [(p.name[: -len("_0000.nii.gz")], sorted((tmp / images).glob(p.name.replace("_0000", "_*"))),
                      tmp / labels / p.name.replace("_0000", "")) for p in sorted((tmp / images).glob("*_0000.nii.gz"))]
            check_training_cases(cases, [0, 1, 2, 3] if regions else [0, 1])
    return target


def _msd_regions(source: Path, out: Path, held_out: Sequence[str]) -> None:
    """nnU-Net's own MSD converter into a private nnUNet_raw, then the BraTS region labels; the held-out cases
    move to imagesTs/labelsTs."""
    from nnunetv2.dataset_conversion.convert_MSD_dataset import convert_msd_dataset

    with tempfile.TemporaryDirectory(dir=out.parent) as scratch:
        task = Path(scratch) / "Task01_BrainTumour"  # nnU-Net infers id and name from this folder name
        task.symlink_to(source.resolve(), target_is_directory=True)
        raw = Path(scratch) / "raw"
        raw.mkdir()
        private = NnunetFolders(raw, Path(scratch) / "pre", Path(scratch) / "res")
        with nnunet_environment(private, n_proc=max(1, min(os.cpu_count() or 1, 4))):
            convert_msd_dataset(str(task), overwrite_target_id=DATASET_IDS["msd_regions"])
        produced = next(raw.iterdir())
        for sub in ("imagesTr", "labelsTr"):
            shutil.move(str(produced / sub), out / sub)
    if held_out:
        (out / "imagesTs").mkdir()
        (out / "labelsTs").mkdir()
        for case_id in held_out:
            for image in sorted((out / "imagesTr").glob(f"{case_id}_[0-9][0-9][0-9][0-9].nii.gz")):
                os.replace(image, out / "imagesTs" / image.name)
            os.replace(out / "labelsTr" / f"{case_id}.nii.gz", out / "labelsTs" / f"{case_id}.nii.gz")
    n_cases = len(list((out / "labelsTr").glob("*.nii.gz")))
    _write_dataset_json(out, _NAMES[DATASET_IDS["msd_regions"]], {0: "FLAIR", 1: "T1w", 2: "T1gd", 3: "T2w"},
                        {"background": 0, **{name: list(values) for name, values in brats_regions("MSD Task01").items()}},
                        n_cases, "Four sequences, BraTS regions (region-based training), from MSD Task01",
                        regions_class_order=[1, 2, 3])


def _fingerprint_key(raw_dataset: Path) -> str:
    digest = hashlib.sha256()
    digest.update((raw_dataset / "dataset.json").read_bytes())
    for path in sorted((raw_dataset / "imagesTr").glob("*.nii.gz")):
        digest.update(f"{path.name}:{path.stat().st_size}".encode())
    return digest.hexdigest()[:16]


def plan_and_preprocess(dataset_id: int, folders: NnunetFolders, configurations: Sequence[str] = ("3d_fullres",),
                        n_proc: int | None = None) -> dict[str, Any]:
    """Return nnU-Net's plans after fingerprinting, planning and preprocessing ``dataset_id`` (chapter 2).

    Runs nnU-Net's own API (``extract_fingerprints``, ``plan_experiments``, ``preprocess``) once: the result
    is reused while the raw dataset is unchanged, and a lock lets only one process do the work.
    """
    from nnunetv2.experiment_planning.plan_and_preprocess_api import extract_fingerprints, plan_experiments, preprocess

    name = dataset_name(dataset_id)
    raw = folders.raw / name
    if not (raw / "dataset.json").is_file():
        raise DatasetLayoutError(f"{raw} does not exist: convert the dataset first (convert_seed_to_nnunet / convert_msd_to_nnunet).")
    out = folders.preprocessed / name
    key = f"{_fingerprint_key(raw)}:{','.join(configurations)}"
    marker = out / _MARKER
    locks = folders.preprocessed / ".locks"
    locks.mkdir(exist_ok=True)
    with open(locks / f"{name}.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            if marker.is_file() and marker.read_text() == key:
                return load_plans(dataset_id, folders)
            if out.exists():
                shutil.rmtree(out)  # stale or interrupted: start again
            cores = n_proc or max(1, min(os.cpu_count() or 1, 8))
            with nnunet_environment(folders, n_proc=cores):
                extract_fingerprints([dataset_id], check_dataset_integrity=True, num_processes=cores, verbose=False)
                plan_experiments([dataset_id])
                preprocess([dataset_id], configurations=tuple(configurations), num_processes=[cores] * len(configurations),
                           verbose=False)
            marker.write_text(key)
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
    return load_plans(dataset_id, folders)


def load_plans(dataset_id: int, folders: NnunetFolders) -> dict[str, Any]:
    """Return the ``nnUNetPlans.json`` nnU-Net wrote for ``dataset_id`` (chapter 2)."""
    path = folders.preprocessed / dataset_name(dataset_id) / "nnUNetPlans.json"
    if not path.is_file():
        raise DatasetLayoutError(f"No plans at {path}: run plan_and_preprocess first.")
    return json.loads(path.read_text())
