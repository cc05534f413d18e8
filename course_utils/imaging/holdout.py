"""Which cases are held out as the test set, never trained on (chapter 6).

MSD Task01 publishes no labels for its ``imagesTs``, so the course's test set is a committed list of 97 of the
484 labelled ``imagesTr`` cases (``splits/msd_task01_test.txt``): every run, on every machine, tests on the same
cases. The FLAIR layout made from MSD keeps MSD's case ids, so the list applies to it too. A folder of other
cases (say, a hospital's own) holds out a fixed fifth of its ids instead, chosen by a hash of each id so the
choice never depends on the order files are listed in. Synthetic folders hold nothing out: their test cases
are generated apart, with seeds never used for training (:func:`~course_utils.imaging.nnunet_infer.heldout_cases`).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable
from importlib import resources
from pathlib import Path

from .layouts import open_mri_folder
from .synthetic import load_truth

__all__ = ["msd_task01_test_ids", "holdout_ids_for", "heldout_ids", "HELDOUT_FRACTION"]

#: Fraction of a folder's cases held out when it is not MSD Task01.
HELDOUT_FRACTION = 0.2


def msd_task01_test_ids() -> tuple[str, ...]:
    """Return the committed MSD Task01 test case ids (``BRATS_007``, ...), sorted (chapter 6)."""
    text = resources.files("course_utils.imaging").joinpath("splits/msd_task01_test.txt").read_text()
    return tuple(line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#"))


def holdout_ids_for(case_ids: Iterable[str], fraction: float = HELDOUT_FRACTION) -> tuple[str, ...]:
    """Return the ids of ``case_ids`` to hold out as the test set (chapter 6).

    The committed MSD Task01 list where it matches any of the ids; otherwise the ``fraction`` of ids with the
    smallest SHA-256 hash (at least one when there are five cases or more, none below that: too few to spare).
    """
    if not 0.0 <= fraction < 1.0:
        raise ValueError(f"fraction must be in [0, 1), got {fraction}.")
    ids = sorted(set(case_ids))
    committed = set(msd_task01_test_ids())
    matched = tuple(i for i in ids if i in committed)
    if matched:
        return matched
    if len(ids) < 5 or fraction == 0.0:
        return ()
    n = max(1, round(fraction * len(ids)))
    ranked = sorted(ids, key=lambda i: hashlib.sha256(i.encode()).hexdigest())
    return tuple(sorted(ranked[:n]))


def heldout_ids(source: str | os.PathLike[str]) -> tuple[str, ...]:
    """Return the case ids of ``source`` held out from training as the test set (chapter 6).

    None for a synthetic folder (its test cases are generated apart, with other seeds); for MSD Task01 and the
    FLAIR layout made from it, the committed list; for any other folder a fixed fifth of its cases. Also
    importable from :mod:`course_utils.imaging.pipeline`, which uses it.
    """
    if load_truth(source) is not None:
        return ()
    return holdout_ids_for(open_mri_folder(Path(source)).case_ids)
