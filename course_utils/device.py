"""Compute device and mixed-precision choices (set-up; every training chapter).

The course never names ``cuda:0``: it uses the current CUDA device (which ``CUDA_VISIBLE_DEVICES`` and
launchers such as torchrun set), Apple's MPS when present, and the CPU otherwise.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from typing import Any

__all__ = ["cuda_available", "pick_device", "amp_dtype", "autocast", "describe_device"]


def cuda_available() -> bool:
    """Return True when torch sees at least one CUDA device."""
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a dependency
        return False
    return bool(torch.cuda.is_available())


def pick_device(prefer: str | None = None) -> "Any":
    """Return the ``torch.device`` to use: ``prefer`` or ``$COURSE_DEVICE`` if set, else CUDA, MPS, CPU.

    An explicit choice that is not available raises ``ValueError`` naming what is.
    """
    import torch

    choice = (prefer or os.environ.get("COURSE_DEVICE", "")).strip().lower()
    if choice:
        device = torch.device(choice)
        if device.type == "cuda" and not torch.cuda.is_available():
            raise ValueError(f"Device {choice!r} was asked for but torch sees no CUDA GPU; use 'cpu'.")
        if device.type == "mps" and not torch.backends.mps.is_available():
            raise ValueError(f"Device {choice!r} was asked for but MPS is not available; use 'cpu'.")
        return device
    if torch.cuda.is_available():
        return torch.device("cuda", torch.cuda.current_device())
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def amp_dtype(device: "Any") -> "Any":
    """Return the autocast dtype for ``device``: bfloat16 on GPUs that support it, float16 on older GPUs,
    ``None`` (full float32) on CPU and MPS."""
    import torch

    dev = torch.device(device)
    if dev.type != "cuda":
        return None
    return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16


@contextlib.contextmanager
def autocast(device: "Any") -> Iterator[None]:
    """Context manager: mixed precision with :func:`amp_dtype` on GPU, a no-op on CPU."""
    import torch

    dtype = amp_dtype(device)
    if dtype is None:
        yield
        return
    with torch.autocast(device_type=torch.device(device).type, dtype=dtype):
        yield


def describe_device(device: "Any") -> str:
    """Return one line naming the device, e.g. ``cuda (NVIDIA H100, 79.1 GiB, bfloat16 AMP)``."""
    import torch

    dev = torch.device(device)
    if dev.type == "cuda":
        index = dev.index if dev.index is not None else torch.cuda.current_device()
        props = torch.cuda.get_device_properties(index)
        dtype = amp_dtype(dev)
        return f"cuda:{index} ({props.name}, {props.total_memory / 2**30:.1f} GiB, {dtype} AMP)"
    if dev.type == "mps":
        return "mps (Apple GPU, float32)"
    return f"cpu ({os.cpu_count()} cores, float32, torch threads {torch.get_num_threads()})"
