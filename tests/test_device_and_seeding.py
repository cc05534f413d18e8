import numpy as np
import pytest
import torch

from course_utils.device import amp_dtype, autocast, describe_device, pick_device
from course_utils.seeding import seed_everything


def test_cpu_fallback_and_no_hard_coded_index(clean_env):
    device = pick_device()
    if torch.cuda.is_available():  # pragma: no cover - GPU machines
        assert device.type == "cuda" and device.index == torch.cuda.current_device()
    else:
        assert device == torch.device("cpu")


def test_explicit_device(clean_env):
    clean_env.setenv("COURSE_DEVICE", "cpu")
    assert pick_device() == torch.device("cpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error on a machine without CUDA")
def test_asking_for_cuda_without_gpu_is_a_clear_error(clean_env):
    with pytest.raises(ValueError, match="no CUDA GPU"):
        pick_device("cuda")


def test_amp_dtype_and_autocast_on_cpu():
    assert amp_dtype("cpu") is None
    with autocast("cpu"):
        out = torch.ones(2, 2) @ torch.ones(2, 2)
    assert out.dtype == torch.float32
    assert describe_device("cpu").startswith("cpu (")


@pytest.mark.gpu
def test_amp_dtype_on_gpu():  # pragma: no cover - GPU machines
    dtype = amp_dtype(pick_device())
    assert dtype in (torch.bfloat16, torch.float16)
    with autocast(pick_device()):
        out = torch.ones(8, 8, device=pick_device()) @ torch.ones(8, 8, device=pick_device())
    assert out.dtype == dtype


def test_seed_everything_is_reproducible():
    rng_a = seed_everything(5)
    a = (rng_a.random(3), np.random.rand(2), torch.rand(2))
    rng_b = seed_everything(5)
    b = (rng_b.random(3), np.random.rand(2), torch.rand(2))
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1]) and torch.equal(a[2], b[2])
    assert not np.array_equal(seed_everything(6).random(3), a[0])
