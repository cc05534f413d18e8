"""Chapter 6's command, ``python -m course_utils.imaging.nnunet_cli``, on bad input: every verb.

One table: the input (arguments, environment, a data or model folder made for the case), a fragment the one-line
error must hold (it names the file, case, fold or option, and what to do), and the exit status. Every case stops
before any work, so nothing is left half-written: the work folder holds no file afterwards.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from course_utils.imaging import nnunet_cli as cli


def _seed_folder(root: Path, n: int = 6) -> Path:
    """A small folder in the seed layout (CASE/CASE_fld.nii.gz, CASE/CASE_seg.nii.gz), every file readable."""
    rng = np.random.default_rng(0)
    for i in range(1, n + 1):
        case = root / f"case_{i:03d}"
        case.mkdir(parents=True)
        image = rng.random((8, 8, 8)).astype(np.float32)
        label = np.zeros((8, 8, 8), np.uint8)
        label[2:5, 2:5, 2:5] = 1
        nib.save(nib.Nifti1Image(image, np.eye(4)), case / f"{case.name}_fld.nii.gz")
        nib.save(nib.Nifti1Image(label, np.eye(4)), case / f"{case.name}_seg.nii.gz")
    return root


def _corrupt_image(tmp: Path) -> Path:
    root = _seed_folder(tmp / "mri")
    (root / "case_001" / "case_001_fld.nii.gz").write_bytes(b"not a NIfTI file")
    return root


def _corrupt_label(tmp: Path) -> Path:
    root = _seed_folder(tmp / "mri")
    (root / "case_002" / "case_002_seg.nii.gz").write_bytes(b"\x1f\x8b truncated")
    return root


def _empty_folder(tmp: Path) -> Path:
    (tmp / "empty").mkdir()
    return tmp / "empty"


def _wrong_layout(tmp: Path) -> Path:
    (tmp / "flat").mkdir()
    (tmp / "flat" / "case_001.nii.gz").write_bytes(b"x")
    return tmp / "flat"


def _a_file(tmp: Path) -> Path:
    (tmp / "model.zip").write_bytes(b"PK")
    return tmp / "model.zip"


def _unfinished_model(tmp: Path) -> Path:
    fold = tmp / "results" / "Dataset501_BraTSFlairSeed" / "nnUNetTrainer__nnUNetPlans__3d_fullres" / "fold_0"
    fold.mkdir(parents=True)
    (fold / "checkpoint_latest.pth").write_bytes(b"")
    return tmp / "results"


def _malformed_plans(tmp: Path) -> Path:
    model = tmp / "results" / "Dataset501_BraTSFlairSeed" / "nnUNetTrainer__nnUNetPlans__3d_fullres"
    (model / "fold_0").mkdir(parents=True)
    (model / "fold_0" / "checkpoint_final.pth").write_bytes(b"")
    (model / "plans.json").write_text('{"dataset_name": "Dataset501_BraTSFlairSeed", ')  # cut off
    (model / "dataset.json").write_text(json.dumps({"labels": {"background": 0, "tumour": 1}}))
    return tmp / "results"


# (name, argv with {folder} for the made folder, environment, the folder to make, message fragment, exit status)
CASES: list[tuple[str, list[str], dict[str, str], Callable[[Path], Path] | None, str, int]] = [
    ("unknown verb", ["trian"], {}, None, "invalid choice: 'trian'", 2),
    ("no verb", [], {}, None, "required: VERB", 2),
    ("fold not a number", ["train", "--folds", "one"], {}, None, "'one' is not a whole number", 2),
    ("negative fold", ["train", "--folds", "-1"], {}, None, "-1 must be 0 or more", 2),
    ("fold beyond the five", ["train", "--folds", "0", "7"], {}, None, "there is no fold 7; nnU-Net splits", 2),
    ("mistyped configuration", ["train", "--configuration", "3d_fulres"], {}, None,
     "'3d_fulres' is not one of nnU-Net's configurations", 2),
    ("unknown --existing", ["train", "--existing", "keep"], {}, None, "invalid choice: 'keep'", 2),
    ("a folder given to train", ["train", "{folder}"], {}, _empty_folder, "unrecognized arguments", 2),
    ("adopt without a folder", ["adopt"], {}, None, "the following arguments are required: folder", 2),
    ("adopt: missing folder", ["adopt", "{folder}/nowhere"], {}, _empty_folder, "nowhere does not exist", 2),
    ("adopt: a file", ["adopt", "{folder}"], {}, _a_file, "model.zip is a file, not a folder", 2),
    ("adopt: empty folder", ["adopt", "{folder}"], {}, _empty_folder, "empty is empty. Give the nnUNet_results", 2),
    ("adopt: unfinished training", ["adopt", "{folder}"], {}, _unfinished_model, "holds no finished fold", 2),
    ("adopt: malformed plans.json", ["adopt", "{folder}"], {}, _malformed_plans,
     "nnUNetTrainer__nnUNetPlans__3d_fullres/plans.json is not readable JSON", 2),
    ("adopt: fold beyond the five", ["adopt", "{folder}", "--folds", "5"], {}, _malformed_plans, "there is no fold 5", 2),
    ("mistyped profile", ["train"], {"COURSE_PROFILE": "smok"}, None, "smok", 2),
    ("malformed schedule override", ["predict"], {"COURSE_SCHEDULE_OVERRIDE": '{"num_epochs": 1'}, None,
     "COURSE_SCHEDULE_OVERRIDE is not JSON", 2),
    ("train: data folder missing", ["train"], {"COURSE_MRI_DIR": "{folder}/nowhere"}, _empty_folder,
     "nowhere is not a folder", 2),
    ("predict: empty data folder", ["predict"], {"COURSE_MRI_DIR": "{folder}"}, _empty_folder,
     "is in neither layout the course reads", 2),
    ("evaluate: data in another layout", ["evaluate"], {"COURSE_MRI_DIR": "{folder}"}, _wrong_layout,
     "is in neither layout the course reads", 2),
    ("train: unreadable image", ["train"], {"COURSE_MRI_DIR": "{folder}"}, _corrupt_image,
     "Case 'case_001': ", 2),
    ("evaluate: unreadable label", ["evaluate"], {"COURSE_MRI_DIR": "{folder}"}, _corrupt_label,
     "case_002_seg.nii.gz", 2),
]


@pytest.mark.parametrize(("argv", "env", "make", "fragment", "status"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_names_the_problem_and_exits_2(argv, env, make, fragment, status, tmp_path, monkeypatch, capsys):
    work = tmp_path / "work"
    work.mkdir()
    for name in ("COURSE_MRI_DIR", "COURSE_SCHEDULE_OVERRIDE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("COURSE_PROFILE", "smoke")
    monkeypatch.setenv("COURSE_WORK_DIR", str(work))
    (tmp_path / "input").mkdir()
    folder = make(tmp_path / "input") if make else None
    fill = {"folder": str(folder or "")}
    for key, value in env.items():
        monkeypatch.setenv(key, value.replace("{folder}", fill["folder"]))
    argv = [a.replace("{folder}", fill["folder"]) for a in argv]
    try:
        code = cli.main(argv)
    except SystemExit as exc:  # argparse's own usage errors
        code = exc.code
    err = capsys.readouterr().err
    assert code == status, err
    assert fragment in err, err
    assert err.strip().splitlines()[-1].startswith(("error:", "python -m course_utils.imaging.nnunet_cli")), err
    assert "Traceback" not in err
    left = [p for p in work.rglob("*") if p.is_file() and not p.name.endswith(".lock")]
    assert left == [], f"half-written: {left}"
