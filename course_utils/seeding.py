"""Seeding for reproducible runs (set-up; every chapter)."""

from __future__ import annotations

import os
import random

import numpy as np

__all__ = ["seed_everything"]


def seed_everything(seed: int, *, deterministic_torch: bool = True) -> np.random.Generator:
    """Seed Python, NumPy and torch (CPU and every GPU) and return a fresh NumPy ``Generator``.

    With ``deterministic_torch`` cuDNN picks deterministic kernels where it has them; some GPU
    operations stay non-deterministic (atomic adds), which the chapters that train say.
    """
    random.seed(seed)
    np.random.seed(seed % 2**32)
    os.environ["PYTHONHASHSEED"] = str(seed)  # for subprocesses (dataloader workers)
    try:
        import torch
    except ImportError:  # pragma: no cover
        return np.random.default_rng(seed)
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)
    if deterministic_torch:
        torch.backends.cudnn.deterministic = True
        torch.backends.cudnn.benchmark = False
    return np.random.default_rng(seed)
