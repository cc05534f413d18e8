"""Reading a folder of brain MRI cases in either of the course's two layouts (chapter 1).

* ``seed``: the student project's layout, one folder per case with a FLAIR image and a binary
  whole-tumour label: ``CASE/CASE_fld.nii[.gz]`` and ``CASE/CASE_seg.nii[.gz]`` (optionally under ``train/``).
* ``msd``: the Medical Segmentation Decathlon's Task01_BrainTumour: ``dataset.json``, ``imagesTr/`` with
  4-D images (FLAIR, T1w, T1gd, T2w) and ``labelsTr/`` with labels 1 oedema, 2 non-enhancing tumour,
  3 enhancing tumour.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

from ..errors import DatasetLayoutError
from .checks import check_label_values, check_pair
from .io import Volume, read_volume

__all__ = ["CaseFiles", "Case", "MriFolder", "open_mri_folder", "SEED_LABELS", "MSD_LABELS", "BRATS_LABEL_CONVENTIONS",
           "brats_regions"]

SEED_LABELS = {0: "background", 1: "whole tumour"}
MSD_LABELS = {0: "background", 1: "oedema", 2: "non-enhancing tumour", 3: "enhancing tumour"}
#: The same tumour parts carry different numbers in different releases (chapter 1): BraTS 2012-2016 (necrosis
#: and non-enhancing tumour apart, 1 and 3), BraTS 2017-2020 (the two merged into 1; 3 unused), BraTS from 2021
#: (enhancing moved to 3), and the Medical Segmentation Decathlon's Task01 (which the course reads).
BRATS_LABEL_CONVENTIONS: dict[str, dict[int, str]] = {
    "BraTS 2012-2016": {1: "necrosis", 2: "oedema", 3: "non-enhancing tumour", 4: "enhancing tumour"},
    "BraTS 2017-2020": {1: "necrosis / non-enhancing tumour core", 2: "oedema", 4: "enhancing tumour"},
    "BraTS 2021 on": {1: "necrosis / non-enhancing tumour core", 2: "oedema", 3: "enhancing tumour"},
    "MSD Task01": {1: "oedema", 2: "non-enhancing tumour", 3: "enhancing tumour"},
}
_NII = re.compile(r"\.nii(\.gz)?$")


def brats_regions(convention: str) -> dict[str, tuple[int, ...]]:
    """Return the label values of the BraTS evaluation regions in a labelling convention (chapter 1).

    Whole tumour: every tumour label; tumour core: everything but oedema; enhancing tumour: the enhancing label.
    ``convention`` is a key of :data:`BRATS_LABEL_CONVENTIONS`.
    """
    if convention not in BRATS_LABEL_CONVENTIONS:
        raise ValueError(f"unknown label convention {convention!r}; choose one of {sorted(BRATS_LABEL_CONVENTIONS)}.")
    labels = BRATS_LABEL_CONVENTIONS[convention]
    by_name = {name: value for value, name in labels.items()}
    return {"whole tumour": tuple(sorted(labels)),
            "tumour core": tuple(sorted(v for v, name in labels.items() if name != "oedema")),
            "enhancing tumour": (by_name["enhancing tumour"],)}


@dataclass(frozen=True)
class CaseFiles:
    """The files of one case: its id, its image and its label (``None`` for unlabelled test cases)."""

    case_id: str
    image: Path
    label: Path | None


@dataclass(frozen=True)
class Case:
    """One loaded case: a 3-D image of one MRI sequence and its label volume, checked to match."""

    case_id: str
    image: Volume
    label: Volume | None
    sequence: str


@dataclass(frozen=True)
class MriFolder:
    """A folder of cases in a known layout (chapter 1). Load cases with :meth:`load`."""

    root: Path
    layout: str
    cases: tuple[CaseFiles, ...]
    sequences: dict[int, str]
    labels: dict[int, str]

    @property
    def case_ids(self) -> list[str]:
        """Return the case ids in a stable (sorted) order."""
        return [c.case_id for c in self.cases]

    def load(self, case: int | str = 0, sequence: int | str = 0) -> Case:
        """Return case ``case`` (index or id), sequence ``sequence`` (index or name, e.g. ``"FLAIR"``).

        The label is checked against the image (same grid) and against the declared label values.
        """
        files = self._find(case)
        channel = self._channel(sequence)
        is_4d = self.layout == "msd"
        image = read_volume(files.image, channel if is_4d else None, name=f"{files.case_id} {self.sequences[channel]}")
        label = None
        if files.label is not None:
            label = read_volume(files.label, name=f"{files.case_id} label")
            check_pair(image, label, files.case_id)
            check_label_values(label, self.labels, files.case_id)
        return Case(files.case_id, image, label, self.sequences[channel])

    def _find(self, case: int | str) -> CaseFiles:
        if isinstance(case, int):
            if not -len(self.cases) <= case < len(self.cases):
                raise IndexError(f"{self.root} has {len(self.cases)} cases; index {case} is out of range.")
            return self.cases[case]
        for files in self.cases:
            if files.case_id == case:
                return files
        raise KeyError(f"No case {case!r} in {self.root}; the first ids are {self.case_ids[:5]}.")

    def _channel(self, sequence: int | str) -> int:
        if isinstance(sequence, int):
            if sequence not in self.sequences:
                raise KeyError(f"No sequence {sequence} in {self.root}; it has {self.sequences}.")
            return sequence
        for index, seq_name in self.sequences.items():
            if seq_name.lower() == sequence.lower():
                return index
        raise KeyError(f"No sequence {sequence!r} in {self.root}; it has {list(self.sequences.values())}.")


def open_mri_folder(path: str | os.PathLike[str]) -> MriFolder:
    """Return the cases of a folder in the seed or MSD layout (detected), or raise a clear error."""
    root = Path(path).expanduser()
    if not root.is_dir():
        raise DatasetLayoutError(f"{root} is not a folder. Point COURSE_MRI_DIR (or the path you passed) at one.")
    if (root / "dataset.json").is_file() and (root / "imagesTr").is_dir():
        return _open_msd(root)
    for candidate in (root, root / "train"):
        cases = _seed_cases(candidate) if candidate.is_dir() else []
        if cases:
            return MriFolder(candidate, "seed", tuple(cases), {0: "FLAIR"}, dict(SEED_LABELS))
    raise DatasetLayoutError(
        f"{root} is in neither layout the course reads: expected either (seed layout) one folder per case "
        "holding CASE_fld.nii[.gz] and CASE_seg.nii[.gz], or (MSD Task01) a dataset.json beside imagesTr/ "
        "and labelsTr/."
    )


def _seed_cases(root: Path) -> list[CaseFiles]:
    cases = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        images = sorted(folder.glob(f"{folder.name}_fld.nii*"))
        if not images:
            continue
        labels = sorted(folder.glob(f"{folder.name}_seg.nii*"))
        cases.append(CaseFiles(folder.name, images[0], labels[0] if labels else None))
    return cases


def _open_msd(root: Path) -> MriFolder:
    try:
        meta = json.loads((root / "dataset.json").read_text())
    except json.JSONDecodeError as exc:
        raise DatasetLayoutError(f"{root / 'dataset.json'} is not valid JSON (line {exc.lineno}): {exc.msg}.") from exc
    try:
        sequences = {int(k): str(v) for k, v in meta["modality"].items()}
        labels = {int(k): str(v) for k, v in meta["labels"].items()}
        training = meta["training"]
    except (KeyError, AttributeError, ValueError) as exc:
        raise DatasetLayoutError(
            f"{root / 'dataset.json'} lacks the MSD keys 'modality', 'labels' and 'training' ({exc})."
        ) from exc
    cases, seen = [], set()
    for entry in training:
        image = root / entry["image"]
        label = root / entry["label"]
        case_id = _NII.sub("", image.name)
        if case_id in seen:
            raise DatasetLayoutError(f"{root / 'dataset.json'} lists case {case_id!r} twice.")
        seen.add(case_id)
        if not image.is_file():
            raise DatasetLayoutError(f"dataset.json lists {entry['image']} but {image} does not exist.")
        cases.append(CaseFiles(case_id, image, label if label.is_file() else None))
    cases.sort(key=lambda c: c.case_id)
    return MriFolder(root, "msd", tuple(cases), sequences, labels)
