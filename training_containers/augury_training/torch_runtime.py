"""How Augury's PyTorch models run: one code path for the CPU and a CUDA GPU.

Both deep model families (the recommenders' sequence model and the
forecasters' DeepAR+ and CNN-QR) follow the same rules, written once here:

- train on CUDA when torch sees a device, else on the CPU, on every core;
- on CUDA, mixed precision: bf16 where the GPU supports it, else fp16 (which
  needs a gradient scaler); on the CPU, float32;
- on the CPU, deterministic kernels while training, so a seed gives the same
  weights, and the caller's setting restored afterwards.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

import torch


def training_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def use_all_cores() -> None:
    """Let torch's CPU kernels use every core.

    The training images pin BLAS/OpenMP to one thread per process, because the
    statistical forecasters parallelise across processes; a global deep model
    trains in one process and would otherwise use a single core.
    """
    torch.set_num_threads(max(1, len(os.sched_getaffinity(0))))


def mixed_precision_dtype(device: torch.device, wanted: bool) -> torch.dtype | None:
    """The autocast dtype for ``device``, or ``None`` for full float32."""
    if device.type != "cuda" or not wanted:
        return None
    # bf16 only where the GPU computes it natively (Ampere and later): on a T4 or V100
    # torch can emulate it, slowly, so those take fp16 with a gradient scaler instead.
    native = torch.cuda.is_bf16_supported(including_emulation=False)
    return torch.bfloat16 if native else torch.float16


def autocast(device: torch.device, dtype: torch.dtype | None) -> torch.autocast:
    """An autocast context that is a no-op when ``dtype`` is ``None``."""
    return torch.autocast(
        device_type=device.type, dtype=dtype or torch.float32, enabled=dtype is not None
    )


@contextmanager
def deterministic_on_cpu(device: torch.device) -> Iterator[None]:
    """Deterministic kernels while training on the CPU; the previous setting restored after."""
    previous = torch.are_deterministic_algorithms_enabled()
    if device.type == "cpu":
        torch.use_deterministic_algorithms(True, warn_only=True)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(previous)
