import nibabel as nib
import numpy as np
import pytest
import SimpleITK as sitk

from course_utils.errors import NotThreeDimensionalError, OutputNotWritableError, VolumeError
from course_utils.imaging.io import (
    Geometry,
    Volume,
    geometry_from_affine,
    read_volume,
    volume_from_nibabel,
    voxel_to_world,
    world_to_voxel,
    write_volume,
)

ROTATED = Geometry((0.8, 1.1, 3.0), origin=(10.0, -4.0, 7.5),
                   direction=tuple(np.array([[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]]).ravel()))


def _volume(geometry=ROTATED, shape=(5, 6, 7)):
    return Volume(np.arange(np.prod(shape), dtype=np.float32).reshape(shape), geometry, "v")


def test_write_read_round_trip_keeps_voxels_and_geometry(tmp_path):
    vol = _volume()
    path = write_volume(vol, tmp_path / "v.nii.gz")
    back = read_volume(path)
    assert np.array_equal(back.array, vol.array)
    assert back.geometry.is_close(vol.geometry, atol=1e-5)
    assert [p.name for p in tmp_path.iterdir()] == ["v.nii.gz"]  # no temporary file left behind


def test_nibabel_and_simpleitk_agree_on_a_file(tmp_path):
    vol = _volume()
    path = write_volume(vol, tmp_path / "v.nii.gz")
    nib_img = nib.load(path)
    assert nib_img.shape == vol.shape_xyz  # (x, y, z) against the array's (z, y, x)
    assert np.array_equal(np.asarray(nib_img.dataobj).transpose(2, 1, 0), vol.array)
    from_nib = volume_from_nibabel(nib_img)
    assert from_nib.geometry.is_close(vol.geometry, atol=1e-5)
    assert np.allclose(vol.geometry.affine_ras(), nib_img.affine, atol=1e-5)


def test_geometry_properties():
    g = Geometry((0.5, 0.7, 4.0), direction=(-1.0, 0, 0, 0, -1.0, 0, 0, 0, 1.0))
    assert g.spacing_zyx == (4.0, 0.7, 0.5)
    assert g.voxel_volume_mm3 == pytest.approx(1.4)
    assert g.orientation == "RAS"  # LPS direction flipped on x and y = voxel axes pointing R, A, S
    assert Geometry((1.0, 1.0, 1.0)).orientation == "LPS"
    assert geometry_from_affine(g.affine_ras()).is_close(g)
    vol = Volume(np.zeros((10, 20, 30)), g)
    assert vol.shape_xyz == (30, 20, 10) and vol.extent_mm == pytest.approx((15.0, 14.0, 40.0))


def test_voxel_to_world_matches_simpleitk_and_inverts():
    vol = _volume()
    image = vol.to_sitk()
    for index in [(0, 0, 0), (4, 5, 6), (2, 1, 3)]:
        expected = image.TransformIndexToPhysicalPoint(tuple(int(i) for i in index[::-1]))
        world = voxel_to_world(vol.geometry, index)
        assert np.allclose(world, expected)
        assert np.allclose(world_to_voxel(vol.geometry, world), index)


def test_4d_needs_a_channel_and_3d_refuses_one(tmp_path):
    data = np.random.default_rng(0).random((6, 5, 4, 4)).astype(np.float32)  # x, y, z, channel
    path = tmp_path / "four.nii.gz"
    nib.save(nib.Nifti1Image(data, np.diag([1.0, 2.0, 3.0, 1.0])), path)
    with pytest.raises(NotThreeDimensionalError, match="4-D with 4 channels.*channel=0..3"):
        read_volume(path)
    t1 = read_volume(path, channel=2)
    assert t1.shape_zyx == (4, 5, 6) and np.allclose(t1.array, data[..., 2].transpose(2, 1, 0))
    assert t1.geometry.spacing == pytest.approx((1.0, 2.0, 3.0))
    with pytest.raises(VolumeError, match="channel 4 does not exist"):
        read_volume(path, channel=4)
    three = write_volume(_volume(), tmp_path / "three.nii.gz")
    with pytest.raises(VolumeError, match="3-D .*channel 1 does not exist"):
        read_volume(three, channel=1)


def test_2d_file_is_not_3d(tmp_path):
    path = tmp_path / "flat.nii.gz"
    sitk.WriteImage(sitk.GetImageFromArray(np.zeros((8, 9), np.float32)), str(path))
    with pytest.raises(NotThreeDimensionalError, match="2-D .*a 3-D volume"):
        read_volume(path)
    with pytest.raises(NotThreeDimensionalError, match="expected a 3-D array"):
        Volume(np.zeros((3, 3)), Geometry((1.0, 1.0, 1.0)))


def test_missing_and_corrupt_files(tmp_path):
    with pytest.raises(VolumeError, match="No image file"):
        read_volume(tmp_path / "nope.nii.gz")
    bad = tmp_path / "bad.nii.gz"
    bad.write_bytes(b"this is not a nifti file")
    with pytest.raises(VolumeError, match="cannot read"):
        read_volume(bad)


def test_write_under_a_regular_file_is_a_clear_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(OutputNotWritableError, match="is a file"):
        write_volume(_volume(), blocker / "sub" / "v.nii.gz")


def test_like_refuses_another_shape():
    vol = _volume()
    assert vol.like(np.ones(vol.array.shape), "m").name == "m"
    with pytest.raises(VolumeError, match="Cannot place"):
        vol.like(np.ones((1, 2, 3)))
