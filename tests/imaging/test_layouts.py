import json
import shutil

import nibabel as nib
import numpy as np
import pytest

from course_utils.errors import DatasetLayoutError, GeometryMismatchError, LabelValueError
from course_utils.imaging.layouts import open_mri_folder


def test_msd_folder(msd_folder):
    folder = open_mri_folder(msd_folder)
    assert folder.layout == "msd" and folder.case_ids == ["BRATS_001", "BRATS_002", "BRATS_003"]
    assert folder.sequences[2] == "t1gd" and folder.labels[1] == "edema"
    case = folder.load("BRATS_002", "T1GD")
    assert case.sequence == "t1gd" and case.image.array.ndim == 3
    assert case.label is not None and set(np.unique(case.label.array)) <= {0, 1, 2, 3}
    flair = folder.load(1, 0)
    assert not np.array_equal(flair.image.array, case.image.array)


def test_seed_folder_and_train_subfolder(seed_folder, tmp_path):
    folder = open_mri_folder(seed_folder)
    assert folder.layout == "seed" and folder.labels == {0: "background", 1: "whole tumour"}
    case = folder.load(0, "FLAIR")
    assert set(np.unique(case.label.array)) == {0, 1}
    nested = tmp_path / "dataset_segmentation"
    shutil.copytree(seed_folder, nested / "train")
    assert open_mri_folder(nested).case_ids == ["case_001", "case_002"]


def test_unknown_layout_explains_both(tmp_path):
    (tmp_path / "x").mkdir()
    with pytest.raises(DatasetLayoutError, match="CASE_fld.*dataset.json"):
        open_mri_folder(tmp_path)
    with pytest.raises(DatasetLayoutError, match="not a folder"):
        open_mri_folder(tmp_path / "missing")


def test_bad_requests(msd_folder):
    folder = open_mri_folder(msd_folder)
    with pytest.raises(KeyError, match="No case 'BRATS_999'"):
        folder.load("BRATS_999")
    with pytest.raises(IndexError):
        folder.load(10)
    with pytest.raises(KeyError, match="No sequence 'DWI'"):
        folder.load(0, "DWI")


def _copy(src, dst):
    shutil.copytree(src, dst)
    return dst


def test_label_on_another_grid_is_caught(seed_folder, tmp_path):
    root = _copy(seed_folder, tmp_path / "data")
    seg_path = root / "case_001" / "case_001_seg.nii.gz"
    seg = nib.load(seg_path)
    nib.save(nib.Nifti1Image(np.asarray(seg.dataobj), np.diag([4.0, 4.0, 5.0, 1.0])), seg_path)
    with pytest.raises(GeometryMismatchError, match="case 'case_001'.*spacing"):
        open_mri_folder(root).load("case_001")


def test_label_values_outside_declared_are_caught(msd_folder, tmp_path):
    root = _copy(msd_folder, tmp_path / "msd")
    path = root / "labelsTr" / "BRATS_001.nii.gz"
    seg = nib.load(path)
    data = np.asarray(seg.dataobj).copy()
    data[data == 3] = 4  # BraTS's original enhancing label, which MSD renumbered to 3
    nib.save(nib.Nifti1Image(data, seg.affine), path)
    with pytest.raises(LabelValueError, match="case 'BRATS_001'.*4 \\("):
        open_mri_folder(root).load("BRATS_001")


def test_broken_dataset_json(msd_folder, tmp_path):
    root = _copy(msd_folder, tmp_path / "msd")
    meta = json.loads((root / "dataset.json").read_text())
    meta["training"].append(meta["training"][0])
    (root / "dataset.json").write_text(json.dumps(meta))
    with pytest.raises(DatasetLayoutError, match="lists case 'BRATS_001' twice"):
        open_mri_folder(root)
    (root / "dataset.json").write_text("{not json")
    with pytest.raises(DatasetLayoutError, match="not valid JSON"):
        open_mri_folder(root)
    (root / "dataset.json").write_text(json.dumps({"name": "x"}))
    with pytest.raises(DatasetLayoutError, match="lacks the MSD keys"):
        open_mri_folder(root)


def test_brats_label_conventions_and_regions():
    from course_utils.imaging.layouts import BRATS_LABEL_CONVENTIONS, MSD_LABELS, brats_regions

    assert BRATS_LABEL_CONVENTIONS["MSD Task01"] == {k: v for k, v in MSD_LABELS.items() if k}  # what the reader uses
    assert brats_regions("BraTS 2012-2016") == {"whole tumour": (1, 2, 3, 4), "tumour core": (1, 3, 4),
                                                "enhancing tumour": (4,)}
    assert brats_regions("BraTS 2017-2020") == {"whole tumour": (1, 2, 4), "tumour core": (1, 4), "enhancing tumour": (4,)}
    assert brats_regions("BraTS 2021 on") == {"whole tumour": (1, 2, 3), "tumour core": (1, 3), "enhancing tumour": (3,)}
    assert brats_regions("MSD Task01") == {"whole tumour": (1, 2, 3), "tumour core": (2, 3), "enhancing tumour": (3,)}
    with pytest.raises(ValueError, match="unknown label convention"):
        brats_regions("BraTS 2019")
